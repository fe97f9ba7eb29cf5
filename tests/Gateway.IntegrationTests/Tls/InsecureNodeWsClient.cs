using System.Diagnostics;
using System.Net.WebSockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Tls;

/// <summary>
/// One npm <c>ws</c> client that accepts any server certificate (<c>rejectUnauthorized:false</c>), for
/// <c>wss://</c> against a self-signed test certificate. It runs <c>node/ws-client-insecure.js</c>, which is
/// <c>ws-client.js</c> with only that option changed, in a process of its own.
/// </summary>
public sealed class InsecureNodeWsClient : IAsyncDisposable
{
    private const string Id = "c1";

    private readonly Process _process;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly Channel<WsMessage> _messages = Channel.CreateUnbounded<WsMessage>();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _opened = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<WsClose> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Dictionary<int, TaskCompletionSource<string?>> _sends = [];
    private int _nextSeq;
    private int _pongs;

    private InsecureNodeWsClient(Process process)
    {
        _process = process;
    }

    /// <summary>Everything the node process wrote, for failure reports.</summary>
    public OutputLog Output { get; } = new();

    /// <summary>The close ws reported: the server's code and reason (1006 when the connection was lost).</summary>
    public Task<WsClose> Closed => _closed.Task;

    /// <summary>Protocol pongs received so far.</summary>
    public int Pongs => Volatile.Read(ref _pongs);

    /// <summary>Starts node and connects to <paramref name="url"/> with <paramref name="headers"/>; throws with ws's error if the handshake fails.</summary>
    public static async Task<InsecureNodeWsClient> ConnectAsync(Uri url, IReadOnlyDictionary<string, string> headers)
    {
        ArgumentNullException.ThrowIfNull(url);
        ArgumentNullException.ThrowIfNull(headers);
        await NodeModules.EnsureInstalledAsync().ConfigureAwait(false);
        var start = new ProcessStartInfo("node", [Path.Combine(RepoPaths.NodeDirectory, "ws-client-insecure.js")])
        {
            WorkingDirectory = RepoPaths.NodeDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var client = new InsecureNodeWsClient(new Process { StartInfo = start });
        client._process.OutputDataReceived += (_, e) => client.OnLine(e.Data);
        client._process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                client.Output.Add("stderr: " + e.Data);
            }
        };
        client._process.Start();
        client._process.BeginOutputReadLine();
        client._process.BeginErrorReadLine();
        try
        {
            await client._ready.Task.WaitAsync(TestTimeouts.Long).ConfigureAwait(false);
            var headerObject = new JsonObject();
            foreach (var (name, value) in headers)
            {
                headerObject[name] = value;
            }

            await client.CommandAsync(new JsonObject { ["op"] = "open", ["id"] = Id, ["url"] = url.ToString(), ["headers"] = headerObject }).ConfigureAwait(false);
            var outcome = await Task.WhenAny(client._opened.Task, client._closed.Task).WaitAsync(TestTimeouts.Default).ConfigureAwait(false);
            if (outcome != client._opened.Task)
            {
                throw new WebSocketException($"ws could not connect to {url}: {string.Join("; ", client.Output.Lines)}");
            }
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return client;
    }

    /// <summary>Sends one text message and waits for ws to report it written.</summary>
    public async Task SendTextAsync(string text)
    {
        var done = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        int seq;
        lock (_sends)
        {
            seq = ++_nextSeq;
            _sends[seq] = done;
        }

        await CommandAsync(new JsonObject { ["op"] = "send", ["id"] = Id, ["seq"] = seq, ["text"] = text }).ConfigureAwait(false);
        var error = await Wait.ForAsync(done.Task, TestTimeouts.Default, "ws to send").ConfigureAwait(false);
        if (error is not null)
        {
            throw new WebSocketException($"ws send failed: {error}");
        }
    }

    /// <summary>Sends a WebSocket protocol ping (opcode 9).</summary>
    public Task PingAsync() => CommandAsync(new JsonObject { ["op"] = "ping", ["id"] = Id });

    /// <summary>Starts the close handshake.</summary>
    public Task CloseAsync(int code, string reason) => CommandAsync(new JsonObject { ["op"] = "close", ["id"] = Id, ["code"] = code, ["reason"] = reason });

    /// <summary>The next message, which must be text.</summary>
    public async Task<string> ReceiveTextAsync(TimeSpan? timeout = null)
    {
        using var cancel = new CancellationTokenSource(timeout ?? TestTimeouts.Default);
        try
        {
            var message = await _messages.Reader.ReadAsync(cancel.Token).ConfigureAwait(false);
            Assert.True(message.IsText, $"Expected a text message, got {message}");
            return message.Text;
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"ws: no message within {timeout ?? TestTimeouts.Default}");
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

    private async Task CommandAsync(JsonObject command)
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

        switch (root.GetProperty("event").GetString())
        {
            case "ready":
                _ready.TrySetResult();
                break;
            case "open":
                _opened.TrySetResult();
                break;
            case "message":
                var data = root.GetProperty("data").GetString()!;
                _messages.Writer.TryWrite(root.GetProperty("type").GetString() == "binary"
                    ? new WsMessage(WebSocketMessageType.Binary, Convert.FromBase64String(data))
                    : new WsMessage(WebSocketMessageType.Text, System.Text.Encoding.UTF8.GetBytes(data)));
                break;
            case "pong":
                Interlocked.Increment(ref _pongs);
                break;
            case "sent" or "error" when root.TryGetProperty("seq", out var seq) && seq.ValueKind == JsonValueKind.Number:
                TaskCompletionSource<string?>? send;
                lock (_sends)
                {
                    _sends.Remove(seq.GetInt32(), out send);
                }

                send?.TrySetResult(root.TryGetProperty("error", out var error) ? error.GetString() : root.GetProperty("message").GetString());
                break;
            case "close":
                var code = root.GetProperty("code").GetInt32();
                _closed.TrySetResult(new WsClose(code, root.GetProperty("reason").GetString() ?? string.Empty, FrameReceived: code != WsClose.Abnormal));
                _messages.Writer.TryComplete();
                break;
        }
    }
}
