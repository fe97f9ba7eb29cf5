using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>
/// Clients of the npm <c>ws</c> library, the one Olares apps use, in one <c>node node/ws-client.js</c>
/// process driven by JSON lines. Open any number of connections with <see cref="OpenAsync"/>.
/// </summary>
public sealed class NodeWsHarness : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentDictionary<string, NodeWsConnection> _connections = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _nextId;

    private NodeWsHarness(Process process)
    {
        _process = process;
    }

    /// <summary>Everything the node process wrote, for failure reports.</summary>
    public OutputLog Output { get; } = new();

    /// <summary>
    /// Installs the npm packages if needed and starts the node process running <paramref name="script"/>:
    /// <c>ws-client.js</c>, or <c>ws-client-insecure.js</c> (the same client accepting any server certificate,
    /// for <c>wss://</c> against a self-signed test certificate).
    /// </summary>
    public static async Task<NodeWsHarness> StartAsync(string script = "ws-client.js")
    {
        await NodeModules.EnsureInstalledAsync().ConfigureAwait(false);
        var start = new ProcessStartInfo("node", [Path.Combine(RepoPaths.NodeDirectory, script)])
        {
            WorkingDirectory = RepoPaths.NodeDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var process = new Process { StartInfo = start };
        var harness = new NodeWsHarness(process);
        process.OutputDataReceived += (_, e) => harness.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                harness.Output.Add("stderr: " + e.Data);
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await Wait.ForAsync(harness._ready.Task.ContinueWith(_ => true, TaskScheduler.Default), TestTimeouts.Long, $"node {script} to start").ConfigureAwait(false);
        }
        catch
        {
            await harness.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return harness;
    }

    /// <summary>
    /// Opens a <c>ws</c> client to <paramref name="url"/> with <paramref name="headers"/> (e.g. <c>X-Bfl-User</c>, <c>Cookie</c>)
    /// and waits for the handshake; throws with ws's error (e.g. "Unexpected server response: 426") if it fails.
    /// </summary>
    public async Task<NodeWsConnection> OpenAsync(Uri url, IReadOnlyDictionary<string, string>? headers = null, IEnumerable<string>? protocols = null, TimeSpan? timeout = null)
    {
        var id = "c" + Interlocked.Increment(ref _nextId).ToString(CultureInfo.InvariantCulture);
        var connection = new NodeWsConnection(this, id);
        _connections[id] = connection;
        var headerObject = new JsonObject();
        foreach (var (name, value) in headers ?? new Dictionary<string, string>())
        {
            headerObject[name] = value;
        }

        await SendCommandAsync(new JsonObject
        {
            ["op"] = "open",
            ["id"] = id,
            ["url"] = url.ToString(),
            ["headers"] = headerObject,
            ["protocols"] = new JsonArray([.. (protocols ?? []).Select(p => (JsonNode)p)]),
        }).ConfigureAwait(false);
        await connection.WaitForOpenAsync(timeout ?? TestTimeouts.Default).ConfigureAwait(false);
        return connection;
    }

    internal async Task SendCommandAsync(JsonObject command)
    {
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            await _process.StandardInput.WriteLineAsync(command.ToJsonString()).ConfigureAwait(false);
            await _process.StandardInput.FlushAsync().ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Writes the node process's output to a test's output.</summary>
    public void DumpOutput(ITestOutputHelper output)
    {
        var lines = Output.Lines;
        output.WriteLine($"----- node ws-client.js: {lines.Count} lines -----");
        foreach (var line in lines.TakeLast(300))
        {
            output.WriteLine(line);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.StandardInput.Close();
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is TimeoutException or InvalidOperationException or IOException)
        {
            try
            {
                _process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }
        }

        _process.Dispose();
        _writeLock.Dispose();
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        Output.Add(line);
        JsonElement root;
        try
        {
            root = JsonDocument.Parse(line).RootElement;
        }
        catch (JsonException)
        {
            return;
        }

        var kind = root.GetProperty("event").GetString();
        if (kind == "ready")
        {
            _ready.TrySetResult();
            return;
        }

        if (root.TryGetProperty("id", out var id) && id.GetString() is { } key && _connections.TryGetValue(key, out var connection))
        {
            connection.OnEvent(kind!, root);
        }
    }
}
