using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gateway.Benchmarks.App;
using Gateway.Benchmarks.Client;
using Gateway.Benchmarks.Measurement;

namespace Gateway.Benchmarks.Orchestration;

/// <summary>
/// What a scenario asks of its test bed: a name (for logs), connections over users, the app's mode,
/// the share of slow connections (never read; with <c>SlowAbsent</c> not opened at all, for a baseline
/// without them), gateway settings the scenario needs unless <c>--gateway-env</c> overrides them, and
/// the server under test: the gateway (<c>Peer</c> null) or a hand-written peer (<see cref="Peers"/>).
/// </summary>
internal sealed record TestbedSpec(string Name, int Connections, int Users, string AppMode, double SlowShare = 0, bool SlowAbsent = false, IReadOnlyDictionary<string, string>? GatewayDefaults = null, int Nodes = 1, string? Peer = null);

/// <summary>
/// One gateway, one app and the client processes holding the connections, all separate processes on
/// this machine, plus the orchestration they share: connecting, phases with reports from every client,
/// CPU snapshots of every process. Disposing closes the clients, then stops the gateway, then the app.
/// </summary>
internal sealed class Testbed : IAsyncDisposable
{
    private static readonly TimeSpan ControlTimeout = TimeSpan.FromSeconds(30);

    private readonly List<ChildProcess> _clients = [];
    private readonly List<int> _clientCounts = [];
    private ChildProcess? _app;
    private GatewayServer? _gateway;
    private readonly List<GatewayServer> _peers = [];
    private int _appPort;

    private Testbed(TestbedSpec spec, BenchmarkOptions options)
    {
        Spec = spec;
        Options = options;
    }

    public TestbedSpec Spec { get; }

    public BenchmarkOptions Options { get; }

    public GatewayServer Gateway => _gateway!;

    public IReadOnlyList<ChildProcess> Clients => _clients;

    /// <summary>The gateway settings this bed was started with (defaults of the scenario, then <c>--gateway-env</c>).</summary>
    public Dictionary<string, string> GatewaySettings { get; } = [];

    /// <summary>What the gateway this bed started was built from (<see cref="Repo.DescribeBuild"/>); null for a peer.</summary>
    public System.Text.Json.Nodes.JsonObject? GatewayBuild { get; private set; }

    public static string LogDirectory(BenchmarkOptions options)
    {
        var directory = options.String("log-dir", Path.Combine(Path.GetTempPath(), "gateway-bench-" + DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)));
        Directory.CreateDirectory(directory);
        return directory;
    }

    public static async Task<Testbed> StartAsync(TestbedSpec spec, BenchmarkOptions options, string logDirectory)
    {
        var bed = new Testbed(spec, options);
        try
        {
            await bed.StartAsync(logDirectory).ConfigureAwait(false);
            return bed;
        }
        catch
        {
            await bed.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Every client process opens and closes <c>--warmup</c> connections of its own (a ping each), so that
    /// the connect path is compiled in the client processes and in the gateway before anything is
    /// measured, and "before" figures come after it has run once.
    /// </summary>
    public async Task WarmUpAsync()
    {
        var count = Options.Int("warmup", 32);
        if (count <= 0)
        {
            return;
        }

        await Task.WhenAll(_clients.Select(c => c.SendAsync(new ClientCommand { Cmd = "warmup", Messages = count }))).ConfigureAwait(false);
        await Task.WhenAll(_clients.Select(c => c.ReadAsync("warmedup", ControlTimeout))).ConfigureAwait(false);
        await Task.Delay(TimeSpan.FromSeconds(Options.Double("settle-seconds", 2))).ConfigureAwait(false);
    }

    /// <summary>Every client opens its connections at once; the merged result.</summary>
    public async Task<ConnectResult> ConnectAsync()
    {
        Progress.Write($"{Spec.Name}: opening {Spec.Connections} connections from {_clients.Count} client processes");
        await Task.WhenAll(_clients.Select(c => c.SendAsync(new ClientCommand { Cmd = "connect" }))).ConfigureAwait(false);
        var timeout = TimeSpan.FromSeconds(Options.Double("connect-phase-timeout", 300));
        var reports = await Task.WhenAll(_clients.Select(c => c.ReadAsync("connected", timeout))).ConfigureAwait(false);
        var result = new ConnectResult(reports);
        Progress.Write($"{Spec.Name}: {result.Opened} open, {result.Failed} failed in {result.Seconds:F2} s");
        return result;
    }

    /// <summary>
    /// Starts a phase on every client (<paramref name="begin"/>: <c>expect</c> or <c>echo</c>), runs
    /// <paramref name="drive"/>, then waits up to <c>--phase-timeout</c> seconds for every client's report,
    /// asking the late ones for their figures as they stand. The phase's clock starts when
    /// <paramref name="drive"/> starts, or for a phase the clients drive themselves (echo) when the first
    /// client began.
    /// </summary>
    public async Task<PhaseResult> RunPhaseAsync(ClientCommand begin, Func<Task>? drive = null)
    {
        await Task.WhenAll(_clients.Select(c => c.SendAsync(begin))).ConfigureAwait(false);
        var acks = await Task.WhenAll(_clients.Select(c => c.ReadAsync("ack", ControlTimeout, begin.Phase))).ConfigureAwait(false);
        var reads = _clients.Select(c => c.ReadAsync("phase", TimeSpan.FromDays(1), begin.Phase)).ToArray();
        var started = drive is null ? acks.Min(a => a.StartTs) : Stopwatch.GetTimestamp();
        if (drive is not null)
        {
            await drive().ConfigureAwait(false);
        }

        var timeout = TimeSpan.FromSeconds(Options.Double("phase-timeout", 120));
        var timedOut = false;
        try
        {
            await Task.WhenAll(reads).WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            timedOut = true;
            Progress.Write($"{Spec.Name}: phase {begin.Phase} not complete {timeout.TotalSeconds:F0} s after the last send; collecting what arrived");
            for (var i = 0; i < _clients.Count; i++)
            {
                if (!reads[i].IsCompleted)
                {
                    await _clients[i].SendAsync(new ClientCommand { Cmd = "report", Phase = begin.Phase }).ConfigureAwait(false);
                }
            }

            await Task.WhenAll(reads).WaitAsync(ControlTimeout).ConfigureAwait(false);
        }

        return new PhaseResult(acks.Sum(a => a.Connections), reads.Select(r => r.Result).ToList(), started, timedOut);
    }

    /// <summary>Ping and close figures of every client (optionally after the pings in flight have been answered).</summary>
    public async Task<ClientReport[]> StatsAsync(bool quiesce)
    {
        await Task.WhenAll(_clients.Select(c => c.SendAsync(new ClientCommand { Cmd = "stats", Quiesce = quiesce }))).ConfigureAwait(false);
        return await Task.WhenAll(_clients.Select(c => c.ReadAsync("stats", ControlTimeout))).ConfigureAwait(false);
    }

    public async Task<AppStats> AppStatsAsync()
    {
        using var http = AppClient();
        return await AppStatsAsync(http).ConfigureAwait(false);
    }

    /// <summary>
    /// Waits until the app has been told <c>open</c> <paramref name="opens"/> times in all (the warm-up's connections
    /// count too), polling its counters, at most 30 s. Returns how many it heard of.
    /// </summary>
    public async Task<long> WaitForAppOpensAsync(long opens)
    {
        var deadline = DateTime.UtcNow + ControlTimeout;
        using var http = AppClient();
        while (true)
        {
            var open = (await AppStatsAsync(http).ConfigureAwait(false)).Open;
            if (open >= opens || DateTime.UtcNow > deadline)
            {
                return open;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20)).ConfigureAwait(false);
        }
    }

    public CpuSnapshot Cpu() => CpuSnapshot.Take(Processes());

    private HttpClient AppClient() =>
        new() { BaseAddress = new Uri(FormattableString.Invariant($"http://127.0.0.1:{_appPort}")), Timeout = ControlTimeout };

    private static async Task<AppStats> AppStatsAsync(HttpClient app) =>
        JsonSerializer.Deserialize<AppStats>(await app.GetStringAsync("/stats").ConfigureAwait(false), ClientProtocol.Json)!;

    /// <summary>CPU seconds the server under test (gateway or peer) used between two snapshots.</summary>
    public static double ServerCpuSeconds(CpuSnapshot start, CpuSnapshot end) => end.SecondsOf("gateway") - start.SecondsOf("gateway");

    /// <summary>The gateway's RSS now, its peak so far (VmHWM), and its managed heap after the last collection.</summary>
    public async Task<JsonObject> GatewayMemoryAsync()
    {
        var metrics = await Gateway.MetricsAsync().ConfigureAwait(false);
        return new JsonObject
        {
            ["rssBytes"] = ProcessStats.RssBytes(Gateway.Pid),
            ["rssPeakBytes"] = ProcessStats.PeakRssBytes(Gateway.Pid),
            ["heapBytes"] = metrics.GetValueOrDefault(GatewayServer.HeapAfterLastCollection),
        };
    }

    /// <summary>Cores used by each process between two snapshots: gateway, app, each client, their total, the orchestrator.</summary>
    public static JsonObject CpuJson(CpuSnapshot start, CpuSnapshot end)
    {
        var cores = end.CoresSince(start);
        var json = new JsonObject();
        var clients = new JsonArray();
        double clientsTotal = 0;
        foreach (var (name, value) in cores)
        {
            if (name.StartsWith("client", StringComparison.Ordinal))
            {
                clients.Add(value);
                clientsTotal += value;
            }
            else
            {
                json[name] = value;
            }
        }

        json["serverCpuSeconds"] = Math.Round(ServerCpuSeconds(start, end), 3);
        json["clients"] = clients;
        json["clientsTotal"] = Math.Round(clientsTotal, 3);
        json["total"] = Math.Round(cores.Sum(c => c.Cores), 3);
        json["wallSeconds"] = Math.Round(Stopwatch.GetElapsedTime(start.Timestamp, end.Timestamp).TotalSeconds, 3);
        return json;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients)
        {
            try
            {
                await client.SendAsync(new ClientCommand { Cmd = "close" }).ConfigureAwait(false);
            }
            catch (IOException)
            {
                // It has ended already.
            }
        }

        foreach (var client in _clients)
        {
            try
            {
                await client.ReadAsync("closed", ControlTimeout).ConfigureAwait(false);
            }
            catch (Exception exception) when (exception is TimeoutException or InvalidOperationException)
            {
                // Killed below if it does not end.
            }

            await client.DisposeAsync().ConfigureAwait(false);
        }

        if (_gateway is not null)
        {
            await _gateway.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var peer in _peers)
        {
            await peer.DisposeAsync().ConfigureAwait(false);
        }

        if (_app is not null)
        {
            await _app.DisposeAsync().ConfigureAwait(false);
        }
    }

    private IEnumerable<(string Name, int Pid)> Processes()
    {
        yield return ("gateway", _gateway!.Pid);
        for (var i = 0; i < _peers.Count; i++)
        {
            yield return (FormattableString.Invariant($"gateway{i + 2}"), _peers[i].Pid);
        }
        yield return ("app", _app!.Pid);
        for (var i = 0; i < _clients.Count; i++)
        {
            yield return (FormattableString.Invariant($"client{i + 1}"), _clients[i].Pid);
        }

        yield return ("orchestrator", Environment.ProcessId);
    }

    private async Task StartAsync(string logDirectory)
    {
        var published = Options.Flag("gateway-publish");
        if (published && Options.Has("gateway-dll"))
        {
            throw new InvalidOperationException("--gateway-publish and --gateway-dll each name the gateway to run: give one of them");
        }

        // A peer's run starts no gateway of ours: nothing to build for it.
        var dll = Options.Has("gateway-dll") ? Options.String("gateway-dll", Repo.GatewayDll)
            : Spec.Peer is null ? Repo.EnsureGatewayUpToDate(published)
            : Repo.GatewayDll;

        _app = ChildProcess.Start("app", "app", ["--mode", Spec.AppMode, "--max-connections", Options.String("app-max-connections", "512")]);
        using (var ready = JsonDocument.Parse(await _app.ReadLineAsync(ControlTimeout).ConfigureAwait(false)))
        {
            _appPort = ready.RootElement.GetProperty("port").GetInt32();
        }

        foreach (var (key, value) in Spec.GatewayDefaults ?? new Dictionary<string, string>())
        {
            GatewaySettings[key] = value;
        }

        foreach (var (key, value) in Options.Settings("gateway-env"))
        {
            GatewaySettings[key] = value;
        }

        GatewayBuild = Spec.Peer is null ? Repo.DescribeBuild(dll) : null;
        var log = Path.Combine(logDirectory, Spec.Name + "-" + (Spec.Peer ?? "gateway") + ".log");
        var callback = FormattableString.Invariant($"http://127.0.0.1:{_appPort}/callback");
        if (Spec.Peer is not null)
        {
            _gateway = await GatewayServer.StartPeerAsync(Spec.Peer, callback, log).ConfigureAwait(false);
        }
        else if (Spec.Nodes > 1)
        {
            // A cluster on loopback: node 1 is the seed and takes the sends; the others share the app.
            var ports = Enumerable.Range(0, Spec.Nodes).Select(_ => FreePort()).ToList();
            Dictionary<string, string> Node(int i) => new(GatewaySettings)
            {
                ["Gateway__Cluster__Enabled"] = "true",
                ["Gateway__Cluster__Port"] = ports[i].ToString(CultureInfo.InvariantCulture),
                ["Gateway__Cluster__SeedNodes__0"] = FormattableString.Invariant($"akka.tcp://gateway@127.0.0.1:{ports[0]}"),
            };
            _gateway = await GatewayServer.StartAsync(dll, callback, Node(0), log).ConfigureAwait(false);
            for (var i = 1; i < Spec.Nodes; i++)
            {
                _peers.Add(await GatewayServer.StartAsync(dll, callback, Node(i), Path.Combine(logDirectory, FormattableString.Invariant($"{Spec.Name}-gateway{i + 1}.log"))).ConfigureAwait(false));
            }

            var deadline = Stopwatch.StartNew();
            while ((await _gateway.MetricsAsync().ConfigureAwait(false)).GetValueOrDefault("gateway_cluster_reachable_nodes") < Spec.Nodes)
            {
                if (deadline.Elapsed > TimeSpan.FromSeconds(60))
                {
                    throw new TimeoutException($"the {Spec.Nodes} gateways did not form a cluster within 60 s (see {log})");
                }

                await Task.Delay(100).ConfigureAwait(false);
            }
        }
        else
        {
            _gateway = await GatewayServer.StartAsync(dll, callback, GatewaySettings, log).ConfigureAwait(false);
        }

        await _app.SendLineAsync(JsonSerializer.Serialize(new { cmd = "gateway", url = _gateway.BaseUri.ToString() })).ConfigureAwait(false);
        Progress.Write($"{Spec.Name}: {_gateway.Name} pid {_gateway.Pid} on {_gateway.BaseUri} (log {log}), app pid {_app.Pid} ({Spec.AppMode})");

        var perProcess = Options.Int("per-process", 5000);
        var processes = Options.Int("client-processes", Math.Max(Math.Min(2, Spec.Connections), (Spec.Connections + perProcess - 1) / perProcess));
        var fileLimit = ProcessStats.OpenFileLimit();
        var first = 0;
        for (var i = 0; i < processes; i++)
        {
            var count = (Spec.Connections / processes) + (i < Spec.Connections % processes ? 1 : 0);
            if (count + 256 > fileLimit)
            {
                throw new ArgumentException($"{count} connections in one client process exceed its open-file limit ({fileLimit}); raise --client-processes");
            }

            // Clients spread over the nodes (with one node: all on it).
            var node = i % Spec.Nodes == 0 ? _gateway : _peers[(i % Spec.Nodes) - 1];
            _clients.Add(StartClient(FormattableString.Invariant($"client{i + 1}"), first, count, Spec.SlowShare, Spec.SlowAbsent, node));
            _clientCounts.Add(count);
            first += count;
        }

        await Task.WhenAll(_clients.Select(c => c.ReadAsync("ready", ControlTimeout))).ConfigureAwait(false);
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    private ChildProcess StartClient(string name, int first, int count, double slowShare, bool slowAbsent, GatewayServer node)
    {
        var sources = Math.Max(1, Options.Int("source-addresses", 8));
        var addresses = string.Join(',', Enumerable.Range(2, sources).Select(i => FormattableString.Invariant($"127.0.0.{i}")));
        var environment = new Dictionary<string, string> { ["DOTNET_gcServer"] = "0" };
        if (Options.Flag("inline-completions", true))
        {
            // Socket continuations run on the epoll thread: no thread-pool hop per read, which keeps the load generator cheap.
            environment["DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"] = "1";
        }

        foreach (var (key, value) in Options.Settings("client-env"))
        {
            environment[key] = value;
        }

        return ChildProcess.Start(name, "client",
        [
            "--host", node.BaseUri.Host,
            "--port", node.BaseUri.Port.ToString(CultureInfo.InvariantCulture),
            "--path", Options.String("path", "/ws"),
            "--first", first.ToString(CultureInfo.InvariantCulture),
            "--count", count.ToString(CultureInfo.InvariantCulture),
            "--users", Spec.Users.ToString(CultureInfo.InvariantCulture),
            "--sources", addresses,
            "--connect-concurrency", Options.String("connect-concurrency", "128"),
            "--connect-timeout", Options.String("connect-timeout", "10"),
            "--ping-seconds", Options.String("ping-seconds", "30"),
            "--slow-share", slowShare.ToString("R", CultureInfo.InvariantCulture),
            "--slow-rcvbuf", Options.String("slow-rcvbuf", "2048"),
            "--slow-mss", Options.String("slow-mss", "536"),
            "--slow-absent", slowAbsent ? "true" : "false",
        ], environment);
    }
}

/// <summary>Every client's connect report, merged.</summary>
internal sealed class ConnectResult
{
    public ConnectResult(IReadOnlyList<ClientReport> reports)
    {
        Opened = reports.Sum(r => r.Opened);
        Failed = reports.Sum(r => r.Failed);
        StartTs = reports.Min(r => r.StartTs);
        EndTs = reports.Max(r => r.EndTs);
        Handshake = new LatencyHistogram();
        Errors = [];
        foreach (var report in reports)
        {
            Handshake.Add(LatencyHistogram.FromWire(report.Handshake));
            foreach (var (reason, count) in report.Errors ?? [])
            {
                Errors[reason] = Errors.GetValueOrDefault(reason) + count;
            }
        }
    }

    public int Opened { get; }

    public int Failed { get; }

    public long StartTs { get; }

    public long EndTs { get; }

    public double Seconds => (EndTs - StartTs) / (double)Stopwatch.Frequency;

    public LatencyHistogram Handshake { get; }

    public Dictionary<string, int> Errors { get; }
}

/// <summary>Every client's report of one phase, merged.</summary>
internal sealed class PhaseResult
{
    public PhaseResult(int connections, IReadOnlyList<ClientReport> reports, long startedTs, bool timedOut)
    {
        Connections = connections;
        StartedTs = startedTs;
        TimedOut = timedOut;
        Latency = new LatencyHistogram();
        FirstTs = long.MaxValue;
        foreach (var report in reports)
        {
            Complete += report.Complete;
            Lost += report.Lost;
            Received += report.Received;
            Duplicates += report.Duplicates;
            Missing += report.Missing;
            Unexpected += report.Unexpected;
            OutOfOrder += report.OutOfOrder;
            Sent += report.Sent;
            if (report.Received > 0)
            {
                FirstTs = Math.Min(FirstTs, report.FirstTs);
                LastTs = Math.Max(LastTs, report.LastTs);
            }

            Latency.Add(LatencyHistogram.FromWire(report.Latency));
            var worst = report.WorstBySend ?? [];
            if (worst.Length > WorstBySend.Length)
            {
                WorstBySend = [.. WorstBySend, .. new long[worst.Length - WorstBySend.Length]];
            }

            for (var i = 0; i < worst.Length; i++)
            {
                WorstBySend[i] = Math.Max(WorstBySend[i], worst[i]);
            }

            foreach (var (code, count) in report.ServerCloses ?? [])
            {
                ServerCloses[code] = ServerCloses.GetValueOrDefault(code) + count;
            }

            foreach (var (reason, count) in report.Errors ?? [])
            {
                Errors[reason] = Errors.GetValueOrDefault(reason) + count;
            }
        }

        if (FirstTs == long.MaxValue)
        {
            FirstTs = startedTs;
        }
    }

    /// <summary>Connections that took part.</summary>
    public int Connections { get; }

    /// <summary>The worst delivery latency (µs) of each send over every client, by the send's sequence.</summary>
    public long[] WorstBySend { get; private set; } = [];

    public long StartedTs { get; }

    public bool TimedOut { get; }

    public int Complete { get; }

    public int Lost { get; }

    public long Received { get; }

    public long Duplicates { get; }

    public long Missing { get; }

    public long Unexpected { get; }

    public long OutOfOrder { get; }

    public long Sent { get; }

    public long FirstTs { get; }

    public long LastTs { get; }

    public LatencyHistogram Latency { get; }

    public Dictionary<string, int> ServerCloses { get; } = [];

    public Dictionary<string, int> Errors { get; } = [];

    /// <summary>Seconds from the start of the phase (just before the first send) to the last message received.</summary>
    public double Seconds => Math.Max(LastTs - StartedTs, 1) / (double)Stopwatch.Frequency;
}
