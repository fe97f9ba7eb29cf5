using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Gateway.Benchmarks.Orchestration;

/// <summary>
/// The server under test: the gateway (<c>dotnet Gateway.dll</c> from its Release build or its publish, with any extra
/// <c>Gateway__...</c> settings) or a hand-written peer (<see cref="Peers"/>), listening on a free port of
/// 127.0.0.1 and calling the app back at <c>callbackUrl</c>. Its output goes to a log file. Stopped with
/// SIGTERM, killed if it does not exit in time.
/// </summary>
internal sealed partial class GatewayServer : IAsyncDisposable
{
    private static readonly string[] InheritedSettingsToDrop =
    [
        "ASPNETCORE_URLS", "ASPNETCORE_HTTP_PORTS", "ASPNETCORE_HTTPS_PORTS", "DOTNET_URLS", "ASPNETCORE_ENVIRONMENT", "DOTNET_ENVIRONMENT", "WS_PORT", "WS_URL",
    ];

    private readonly Process _process;
    private readonly StreamWriter _log;
    private readonly TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _logClosed;

    private GatewayServer(Process process, StreamWriter log)
    {
        _process = process;
        _log = log;
    }

    public int Pid { get; private set; }

    /// <summary>What runs: <c>gateway</c>, or the name of a hand-written peer (<c>ws</c>, <c>bun</c>).</summary>
    public string Name { get; private set; } = "gateway";

    /// <summary>Gateways started and not yet stopped, by pid.</summary>
    private static ConcurrentDictionary<int, Process> Running { get; } = new();

    /// <summary>
    /// Kills every gateway this process started and has not stopped yet. The client and app processes
    /// end by themselves when our end of their stdin closes; the gateway does not read stdin.
    /// </summary>
    public static void KillAll()
    {
        foreach (var (pid, process) in Running)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (Exception exception) when (exception is InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // Already gone.
            }

            Running.TryRemove(pid, out _);
        }
    }

    public Uri BaseUri { get; private set; } = null!;

    public HttpClient Http { get; private set; } = null!;

    public string LogPath { get; private set; } = "";

    /// <summary>Starts the gateway's <paramref name="dll"/> with the benchmark's logging settings and <paramref name="settings"/> on top.</summary>
    public static Task<GatewayServer> StartAsync(string dll, string callbackUrl, IReadOnlyDictionary<string, string> settings, string logPath)
    {
        var start = new ProcessStartInfo(Repo.DotnetHost) { WorkingDirectory = Path.GetDirectoryName(dll)! };
        start.ArgumentList.Add(dll);
        DropInheritedSettings(start);
        start.Environment["ASPNETCORE_URLS"] = "http://127.0.0.1:0";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["Gateway__Callback__Url"] = callbackUrl;

        // Per-connection logging would measure the console, not the gateway; the start-up lines stay.
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        start.Environment["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information";
        start.Environment["Logging__Console__FormatterName"] = "simple";
        start.Environment["Logging__Console__FormatterOptions__SingleLine"] = "true";
        start.Environment["Logging__Console__FormatterOptions__TimestampFormat"] = "HH:mm:ss.fff ";
        foreach (var (key, value) in settings)
        {
            start.Environment[key] = value;
        }

        return LaunchAsync("gateway", start, logPath);
    }

    /// <summary>
    /// Starts the hand-written peer <paramref name="peer"/> (<see cref="Peers"/>) calling the app back at
    /// <paramref name="callbackUrl"/>; it prints the same "Now listening on:" line and serves <c>/healthz</c>.
    /// </summary>
    public static Task<GatewayServer> StartPeerAsync(string peer, string callbackUrl, string logPath)
    {
        var start = Peers.StartInfo(peer);
        DropInheritedSettings(start);
        start.Environment["GATEWAY_CALLBACK_URL"] = callbackUrl;
        start.Environment["GATEWAY_PORT"] = "0";
        return LaunchAsync(peer, start, logPath);
    }

    private static void DropInheritedSettings(ProcessStartInfo start)
    {
        foreach (var key in start.Environment.Keys.ToList())
        {
            if (InheritedSettingsToDrop.Contains(key, StringComparer.OrdinalIgnoreCase)
                || key.StartsWith("Gateway__", StringComparison.OrdinalIgnoreCase)
                || key.StartsWith("GATEWAY_", StringComparison.Ordinal)
                || key.StartsWith("Logging__", StringComparison.OrdinalIgnoreCase)
                || key.StartsWith("DOTNET_SYSTEM_NET_SOCKETS", StringComparison.OrdinalIgnoreCase))
            {
                start.Environment.Remove(key);
            }
        }
    }

    private static async Task<GatewayServer> LaunchAsync(string name, ProcessStartInfo start, string logPath)
    {
        start.UseShellExecute = false;
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        var log = new StreamWriter(logPath) { AutoFlush = true };
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var server = new GatewayServer(process, log) { LogPath = logPath, Name = name };
        process.OutputDataReceived += (_, e) => server.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => server.OnLine(e.Data);
        if (!process.Start())
        {
            throw new InvalidOperationException($"could not start the {name}");
        }

        server.Pid = process.Id;

        // Ctrl+C or SIGTERM ends this process without running our finally blocks: never leave a gateway behind.
        Running[server.Pid] = process;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var exited = process.WaitForExitAsync();
            var first = await Task.WhenAny(server._listening.Task, exited, Task.Delay(TimeSpan.FromSeconds(60))).ConfigureAwait(false);
            if (first != server._listening.Task)
            {
                throw new InvalidOperationException($"the {name} did not start listening (see {logPath})");
            }

            server.BaseUri = await server._listening.Task.ConfigureAwait(false);
            server.Http = AdminClient(server.BaseUri);
            await server.WaitHealthyAsync().ConfigureAwait(false);
            return server;
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// <see cref="MetricsAsync"/> key of the managed heap, all generations, as the last collection left it, fragmentation
    /// included (the runtime meter's <c>dotnet.gc.last_collection.heap.size</c>, summed over its <c>gc.heap.generation</c>
    /// series), in bytes.
    /// </summary>
    public const string HeapAfterLastCollection = "dotnet_gc_last_collection_heap_size_bytes";

    /// <summary>
    /// <see cref="MetricsAsync"/> key (<c>name|label=value</c>) of the full (generation 2) collections since the gateway
    /// started (<c>dotnet.gc.collections</c>, <c>gc.heap.generation=gen2</c>), induced ones included: the gateway's own
    /// compaction after a burst (<c>Gateway:Memory:CompactAfterBursts</c>) is one.
    /// </summary>
    public const string FullCollections = "dotnet_gc_collections_total|gc_heap_generation=gen2";

    /// <summary><see cref="MetricsAsync"/> key of the managed bytes allocated since the gateway started (<c>dotnet.gc.heap.total_allocated</c>).</summary>
    public const string HeapAllocated = "dotnet_gc_heap_total_allocated_bytes_total";

    /// <summary>
    /// What the gateway's garbage collector did between two <see cref="MetricsAsync"/> snapshots: managed bytes allocated
    /// per one of <paramref name="messages"/> (a delivered message in a fan-out, a round trip in echo), collections by
    /// generation, and the time the runtime was paused for them (<c>dotnet.gc.pause.time</c>), in seconds. All zero for a
    /// peer, which has no such series.
    /// </summary>
    public static JsonObject GcJson(IReadOnlyDictionary<string, double> before, IReadOnlyDictionary<string, double> after, long messages)
    {
        double Delta(string key) => after.GetValueOrDefault(key) - before.GetValueOrDefault(key);
        return new JsonObject
        {
            ["allocatedBytesPerMessage"] = messages > 0 ? Math.Round(Delta(HeapAllocated) / messages, 1) : 0,
            ["gen0"] = Delta("dotnet_gc_collections_total|gc_heap_generation=gen0"),
            ["gen1"] = Delta("dotnet_gc_collections_total|gc_heap_generation=gen1"),
            ["gen2"] = Delta(FullCollections),
            ["pauseSeconds"] = Math.Round(Delta("dotnet_gc_pause_time_seconds_total"), 4),
        };
    }

    /// <summary>
    /// The <c>/metrics</c> gauges and counters by name, each the sum of its labelled series (by dialect,
    /// close code, ...); a histogram's <c>_bucket</c> series are skipped. Each series is also summed under
    /// <c>name|label=value</c> for each of its labels (e.g. <c>gateway_cluster_peer_messages_total|gateway_cluster_routing=routed</c>).
    /// </summary>
    public async Task<Dictionary<string, double>> MetricsAsync()
    {
        var text = await Http.GetStringAsync("/metrics").ConfigureAwait(false);
        var metrics = new Dictionary<string, double>();
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            // name{labels} value [timestamp]
            var labels = line.IndexOf('{', StringComparison.Ordinal);
            var nameEnd = labels >= 0 ? labels : line.IndexOf(' ', StringComparison.Ordinal);
            var valueStart = labels >= 0 ? line.IndexOf("} ", labels, StringComparison.Ordinal) + 2 : nameEnd + 1;
            if (nameEnd <= 0 || valueStart <= 1)
            {
                continue;
            }

            var name = line[..nameEnd];
            var fields = line[valueStart..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (!name.EndsWith("_bucket", StringComparison.Ordinal) && fields.Length > 0
                && double.TryParse(fields[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                metrics[name] = metrics.GetValueOrDefault(name) + value;
                if (labels >= 0)
                {
                    foreach (var pair in line[(labels + 1)..(valueStart - 2)].Split(',', StringSplitOptions.RemoveEmptyEntries))
                    {
                        var key = $"{name}|{pair.Replace("\"", string.Empty, StringComparison.Ordinal)}";
                        metrics[key] = metrics.GetValueOrDefault(key) + value;
                    }
                }
            }
        }

        return metrics;
    }

    /// <summary>The orchestrator's client for a server's admin API at <paramref name="baseUri"/>.</summary>
    public static HttpClient AdminClient(Uri baseUri) => new(new SocketsHttpHandler { UseProxy = false, UseCookies = false, MaxConnectionsPerServer = 64 })
    {
        BaseAddress = baseUri,
        Timeout = TimeSpan.FromSeconds(30),
    };

    /// <summary>Posts an admin send; returns the receipt (matched, enqueued, dropped), or null when the call failed.</summary>
    public Task<(long Matched, long Enqueued, long Dropped)?> SendAsync(byte[] body, CancellationToken cancellationToken = default) =>
        SendAsync(Http, body, cancellationToken);

    /// <summary>
    /// Posts an admin send through <paramref name="http"/> (an <see cref="AdminClient"/>); the receipt, or null when
    /// the call failed.
    /// </summary>
    public static async Task<(long Matched, long Enqueued, long Dropped)?> SendAsync(HttpClient http, byte[] body, CancellationToken cancellationToken = default)
    {
        try
        {
            using var content = new ByteArrayContent(body);
            using var response = await http.PostAsync("/tapr/ws/conn/send", content, cancellationToken).ConfigureAwait(false);
            var reply = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
            using var json = JsonDocument.Parse(reply);
            if (json.RootElement.GetProperty("code").GetInt32() != 0 || !json.RootElement.TryGetProperty("data", out var data))
            {
                return null;
            }

            return (data.GetProperty("matched").GetInt64(), data.GetProperty("enqueued").GetInt64(), data.GetProperty("dropped").GetInt64());
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException or JsonException or KeyNotFoundException)
        {
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            try
            {
                using var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", Pid.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false });
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(15)).ConfigureAwait(false);
            }
            catch (Exception exception) when (exception is TimeoutException or System.ComponentModel.Win32Exception)
            {
                Progress.Write($"the {Name} (pid {Pid}) did not exit on SIGTERM: killing it");
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().ConfigureAwait(false);
            }
        }

        Running.TryRemove(Pid, out _);
        Http?.Dispose();
        _process.Dispose();
        lock (_log)
        {
            _logClosed = true;
            _log.Dispose();
        }
    }

    private async Task WaitHealthyAsync()
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var response = await Http.GetAsync("/healthz").ConfigureAwait(false);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not yet.
            }

            if (deadline.Elapsed > TimeSpan.FromSeconds(30) || _process.HasExited)
            {
                throw new InvalidOperationException($"the {Name} did not become healthy (see {LogPath})");
            }

            await Task.Delay(50).ConfigureAwait(false);
        }
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_log)
        {
            if (!_logClosed)
            {
                _log.WriteLine(line);
            }
        }

        var match = ListeningLine().Match(line);
        if (match.Success && Uri.TryCreate(match.Groups[1].Value, UriKind.Absolute, out var url))
        {
            _listening.TrySetResult(new UriBuilder(url.Scheme, url.Host, url.Port).Uri);
        }
    }

    [GeneratedRegex(@"Now listening on: (\S+)")]
    private static partial Regex ListeningLine();
}
