using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Gateway.IntegrationTests.Infrastructure;
using Gateway.IntegrationTests.Jac;

namespace Gateway.IntegrationTests.Soak;

/// <summary>
/// Runs a soak: the real gateway process, the <see cref="SoakApp"/> it calls back (with its faults), the
/// clients, and the app's side of the admin API (pushes to users, connection ids and channels, <c>list</c>,
/// closes, floods of slow consumers). Every admin answer is checked as it comes; the rest of the invariants
/// are checked by <see cref="CheckConnections"/> once the run has settled.
/// </summary>
public sealed partial class SoakDriver : IAsyncDisposable
{
    /// <summary>One callback attempt (<c>Gateway:Callback:Timeout</c>); a hanging app answers well after it.</summary>
    public static readonly TimeSpan CallbackTimeout = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// TAPR ping deadline: a silent TAPR client is closed with 4000 after this. Far above the clients' 1 s ping
    /// period, because this shared 2-core box stalls processes for seconds at a time.
    /// </summary>
    public static readonly TimeSpan PingTimeout = TestTimeouts.Dilated(TimeSpan.FromSeconds(10));

    /// <summary>jac keep-alive: a protocol ping this often, unanswered for <see cref="KeepAliveTimeout"/> closes with 4000.</summary>
    public static readonly TimeSpan KeepAliveInterval = TestTimeouts.Dilated(TimeSpan.FromSeconds(2));

    /// <summary>See <see cref="KeepAliveInterval"/>.</summary>
    public static readonly TimeSpan KeepAliveTimeout = TestTimeouts.Dilated(TimeSpan.FromSeconds(5));

    private const int OutboundQueueBytes = 1024 * 1024;
    private const int FloodPayloadBytes = 128 * 1024;
    private const int MaxFloodRounds = 400;
    private const int LargePushBytes = 48 * 1024;
    private const int TaprUsers = 40;
    private const int JacRoots = 24;
    private const int Channels = 16;

    private static readonly string FloodPayload = "\"" + new string('f', FloodPayloadBytes) + "\"";
    private static readonly string LargePush = "{\"push\":\"large\",\"pad\":\"" + new string('p', LargePushBytes) + "\"}";

    private readonly ConcurrentQueue<(string Invariant, string Subject, string Detail)> _violations = new();
    private readonly ConcurrentDictionary<string, long> _counters = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _closeCodes = new(StringComparer.Ordinal);
    private readonly HashSet<SoakEnding> _endings;
    private readonly HttpClient _admin;
    private long _slowestAdminTicks;
    private readonly Dictionary<string, string> _tokens = new(StringComparer.Ordinal);
    private readonly List<string> _jacRoots = [];
    private readonly ConcurrentDictionary<SoakClient, byte> _live = new();
    private readonly Random _random;
    private readonly Lock _randomGate = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Dictionary<AppMode, TimeSpan> _modeTime = [];
    private long _peakPending;
    private long _rssPeak;

    private SoakDriver(SoakSettings settings, SoakApp app, GatewayProcess gateway)
    {
        Settings = settings;
        App = app;
        Gateway = gateway;
        _random = new Random(settings.Seed);
        _endings = [.. settings.Endings];
        _admin = new HttpClient(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = 64 })
        {
            BaseAddress = gateway.BaseUri,

            // Long, so that a stall of this shared machine is measured (slowest admin call) rather than reported as no answer.
            Timeout = TestTimeouts.Long,
        };
        for (var i = 0; i < JacRoots; i++)
        {
            var hex = Convert.ToHexStringLower(BitConverter.GetBytes(settings.Seed).Concat(BitConverter.GetBytes(i)).Concat(new byte[4]).ToArray());
            var root = "n::" + hex;
            _jacRoots.Add(root);
            _tokens[root] = JacTokens.ForRoot(hex);
        }
    }

    public SoakSettings Settings { get; }

    public SoakApp App { get; }

    public GatewayProcess Gateway { get; }

    /// <summary>The inbound size limit of both dialects in this run: a larger message is closed with 1009.</summary>
    public int MaxMessageBytes => 64 * 1024;

    /// <summary>The clients of the run so far, in the order they were made.</summary>
    public List<SoakClient> Clients { get; } = [];

    /// <summary>Gateway RSS before any connection.</summary>
    public long RssBaseline { get; private set; }

    public long RssPeak => Interlocked.Read(ref _rssPeak);

    public long PeakPending => Interlocked.Read(ref _peakPending);

    public int ViolationCount => _violations.Count;

    /// <summary>Starts the app, then a gateway calling it back with the soak's short timeouts, and reads the baseline RSS.</summary>
    public static async Task<SoakDriver> StartAsync(SoakSettings settings)
    {
        var app = await SoakApp.StartAsync(hangFor: CallbackTimeout * 2.5).ConfigureAwait(false);
        try
        {
            var options = new GatewayProcessOptions { CallbackUrl = app.CallbackUrl, FileDescriptorLimit = 16384 };
            options
                .With("Callback", "Timeout", Span(CallbackTimeout))
                .With("Callback", "RetryBaseDelay", "00:00:00.050")
                .With("Callback", "RetryMaxDelay", "00:00:00.500")
                .With("Tapr", "PingTimeout", Span(PingTimeout))
                .With("Tapr", "SendHello", "true")
                .With("Jac", "TokenSecret", JacTokens.Secret)
                .With("Jac", "KeepAliveInterval", Span(KeepAliveInterval))
                .With("Jac", "KeepAliveTimeout", Span(KeepAliveTimeout))
                .With("Jac", "MaxMessageBytes", (64 * 1024).ToString(CultureInfo.InvariantCulture))
                .With("Limits", "MaxMessageBytes", (64 * 1024).ToString(CultureInfo.InvariantCulture))
                .With("Limits", "OutboundQueueBytes", OutboundQueueBytes.ToString(CultureInfo.InvariantCulture))
                .With("Memory", "MinInterval", "00:00:05");
            var gateway = await GatewayProcess.StartAsync(options).ConfigureAwait(false);
            var driver = new SoakDriver(settings, app, gateway);
            driver.RssBaseline = gateway.ResidentBytes();
            driver._rssPeak = driver.RssBaseline;
            return driver;
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>A jac token for root <paramref name="root"/> (<c>n::&lt;hex&gt;</c>).</summary>
    public string TokenFor(string root) => _tokens[root];

    /// <summary>Records a broken invariant: which one, about what, and the evidence.</summary>
    public void Violation(string invariant, string subject, string detail) => _violations.Enqueue((invariant, subject, detail));

    /// <summary>Makes a client from the seeded random choices: dialect, ending, user or root, channel, lifetime, pace.</summary>
    public SoakClient NewClient(int index, bool openAtShutdown = false)
    {
        lock (_randomGate)
        {
            bool tapr;
            SoakEnding ending;
            do
            {
                (tapr, ending) = ChooseEnding(openAtShutdown);
            }
            while (_endings.Count > 0 && !openAtShutdown && !_endings.Contains(ending));

            var user = tapr ? $"soak-u{_random.Next(TaprUsers)}" : _jacRoots[_random.Next(JacRoots)];
            var channel = tapr ? null : $"soak-ch{_random.Next(Channels)}";
            var lifetime = TimeSpan.FromMilliseconds(_random.Next(1500, 6000));
            var pace = TimeSpan.FromMilliseconds(_random.Next(150, 500));
            var client = new SoakClient(
                string.Create(CultureInfo.InvariantCulture, $"k{index}"),
                tapr ? SoakDialect.Tapr : SoakDialect.Jac,
                ending,
                user,
                channel,
                lifetime,
                pace,
                pingRightBeforeClose: _random.Next(2) == 0);
            Clients.Add(client);
            return client;
        }
    }

    /// <summary>
    /// Keeps <see cref="SoakSettings.Sockets"/> clients connected, replacing each one that ends, until
    /// <paramref name="spawnFor"/> has passed; returns when every client has ended.
    /// </summary>
    public async Task RunClientsAsync(TimeSpan spawnFor, CancellationToken cancellationToken)
    {
        using var slots = new SemaphoreSlim(Settings.Sockets);
        var running = new List<Task>();
        var index = 0;
        var until = _clock.Elapsed + spawnFor;
        while (_clock.Elapsed < until && !cancellationToken.IsCancellationRequested)
        {
            if (!await slots.WaitAsync(TimeSpan.FromMilliseconds(200), cancellationToken).ConfigureAwait(false))
            {
                continue;
            }

            var client = NewClient(index++);
            _live[client] = 0;
            running.Add(Task.Run(async () =>
            {
                try
                {
                    await client.RunAsync(this, CancellationToken.None).ConfigureAwait(false);
                }
                finally
                {
                    _live.TryRemove(client, out _);
                    slots.Release();
                }
            }, CancellationToken.None));
        }

        await Task.WhenAll(running).ConfigureAwait(false);
    }

    /// <summary>
    /// The fault schedule: healthy for 5–9 s, then 503, hanging or down for 1.5–3 s, in a seeded order,
    /// until <paramref name="faultsFor"/> has passed; healthy afterwards.
    /// </summary>
    public async Task RunFaultsAsync(TimeSpan faultsFor, CancellationToken cancellationToken)
    {
        var random = new Random(Settings.Seed ^ 0x5eed);
        var faults = new[] { AppMode.Failing, AppMode.Hanging, AppMode.Down };
        var next = 0;
        var until = _clock.Elapsed + faultsFor;
        try
        {
            while (true)
            {
                var healthy = TimeSpan.FromMilliseconds(random.Next(5000, 9000));
                await TimeInModeAsync(AppMode.Healthy, healthy, cancellationToken).ConfigureAwait(false);
                if (_clock.Elapsed >= until)
                {
                    break;
                }

                if (next % faults.Length == 0)
                {
                    random.Shuffle(faults);
                }

                var fault = faults[next++ % faults.Length];
                await TimeInModeAsync(fault, TimeSpan.FromMilliseconds(random.Next(1500, 3000)), cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // The run is over.
        }
        finally
        {
            await App.SetModeAsync(AppMode.Healthy).ConfigureAwait(false);
        }
    }

    /// <summary>The app's pushes: every 20 ms one send to a user, a connection id or a jac channel (one in ten large); <c>list</c> every second.</summary>
    public async Task RunPushesAsync(CancellationToken cancellationToken)
    {
        var random = new Random(Settings.Seed ^ 0x9054);
        var lists = Stopwatch.StartNew();
        var n = 0;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var payload = random.Next(10) == 0 ? LargePush : string.Create(CultureInfo.InvariantCulture, $"{{\"push\":{n++}}}");
                var kind = random.Next(10);
                string body;
                if (kind < 4)
                {
                    var user = random.Next(2) == 0 ? $"soak-u{random.Next(TaprUsers)}" : _jacRoots[random.Next(JacRoots)];
                    body = $"{{\"users\":[\"{user}\"],\"payload\":{payload}}}";
                    Count("push users");
                }
                else if (kind < 7 && _live.Keys.FirstOrDefault(c => c.ConnId is not null && random.Next(4) == 0) is { } client)
                {
                    body = $"{{\"conn_id\":\"{client.ConnId}\",\"payload\":{payload}}}";
                    Count("push conn_id");
                }
                else
                {
                    body = $"{{\"channels\":[\"soak-ch{random.Next(Channels)}\"],\"payload\":{payload}}}";
                    Count("push channels");
                }

                if (ReferenceEquals(payload, LargePush))
                {
                    Count("push large");
                }

                _ = await AdminAsync("send", "/tapr/ws/conn/send", body).ConfigureAwait(false);
                if (lists.Elapsed > TimeSpan.FromSeconds(1))
                {
                    lists.Restart();
                    _ = await AdminAsync("list", "/tapr/ws/conn/list", null).ConfigureAwait(false);
                }

                await Task.Delay(20, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // The run is over.
        }
    }

    /// <summary>Samples the callback backlog (<c>gateway_callback_pending</c>) and the gateway's RSS every 250 ms.</summary>
    public async Task RunSamplingAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                _ = Sample();
                if (await PendingCallbacksAsync().ConfigureAwait(false) is { } pending)
                {
                    InterlockedMax(ref _peakPending, (long)pending);
                }

                await Task.Delay(250, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // The run is over.
        }
    }

    /// <summary>The app closes <paramref name="client"/> through admin <c>close</c> (PROTOCOL.md §4: 1000).</summary>
    public async Task CloseThroughAdminAsync(SoakClient client)
    {
        Count("admin close");
        var response = await AdminAsync("close", "/tapr/ws/conn/close", $"{{\"conns\":[\"{client.ConnId}\"]}}").ConfigureAwait(false);
        if (response is not null && Receipt(response, "matched") is { } matched && matched != 1)
        {
            Violation("admin close matched its connection", client.ToString(), response.ToString());
        }
    }

    /// <summary>
    /// The app pushes 128 KiB payloads to a client that has stopped reading until the gateway reports it
    /// dropped (receipt <c>dropped</c> &gt; 0) or gone (<c>matched</c> 0).
    /// </summary>
    public async Task FloodAsync(SoakClient client)
    {
        Count("flood");
        for (var round = 0; round < MaxFloodRounds; round++)
        {
            var response = await AdminAsync("send", "/tapr/ws/conn/send", $"{{\"conn_id\":\"{client.ConnId}\",\"payload\":{FloodPayload}}}").ConfigureAwait(false);
            Count("flood rounds");
            if (response is null)
            {
                return;
            }

            if (Receipt(response, "dropped") > 0)
            {
                Count("floods ended by a drop");
                return;
            }

            if (Receipt(response, "matched") == 0)
            {
                Count("floods ended by the connection gone");
                return;
            }
        }

        Violation("a client that does not read is closed with 4001", client.ToString(), $"still not dropped after {MaxFloodRounds} payloads of {FloodPayloadBytes} bytes");
    }

    /// <summary>
    /// Waits until the run has settled: every identified client's connection has its close at the app and the
    /// gateway's callback backlog is empty.
    /// </summary>
    public async Task SettleAsync()
    {
        try
        {
            await Wait.UntilAsync(
                async () => Sample() > 0 && Clients.All(c => c.ConnId is null || App.For(c.ConnId)?.HasClose == true) && await PendingCallbacksAsync().ConfigureAwait(false) == 0,
                TestTimeouts.Long * 2,
                "every connection's close callback and an empty callback backlog").ConfigureAwait(false);
        }
        catch (TimeoutException exception)
        {
            Violation("every open gets its close", "run", $"{exception.Message}; pending {await PendingCallbacksAsync().ConfigureAwait(false)}");
        }
    }

    /// <summary><c>list</c> after the run: no user left.</summary>
    public async Task CheckListEmptyAsync()
    {
        var response = await AdminAsync("list", "/tapr/ws/conn/list", null).ConfigureAwait(false);
        if (response is not null)
        {
            using var document = JsonDocument.Parse(response.Body);
            if (document.RootElement.GetProperty("data").GetArrayLength() != 0)
            {
                Violation("list is empty after the run", "list", response.Text.Length > 2000 ? response.Text[..2000] + "…" : response.Text);
            }
        }
    }

    /// <summary>
    /// Per client: one open first, one close last, the app's messages a gap-free in-order prefix of what it sent
    /// (all of it after a clean close), repeats only of an attempt the gateway never got a 200 for, pongs for
    /// every ping of a clean close, and the close code of its ending. Returns the duplicates counted.
    /// </summary>
    public int CheckConnections()
    {
        var retried = RetriedEvents();
        var duplicates = 0;
        var claimed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var client in Clients)
        {
            if (client.Failure is not null)
            {
                Violation("every client runs its course", client.ToString(), client.Failure);
            }

            if (client.ConnId is null)
            {
                continue;
            }

            claimed.Add(client.ConnId);
            CountCloseCode(client);
            CheckCloseCode(client);
            if (client.Dialect == SoakDialect.Tapr && client.Ending == SoakEnding.Clean && client.PongsReceived != client.PingsSent)
            {
                var how = client.PingRightBeforeClose ? "last ping sent right before the close frame" : "pongs awaited before closing";
                Violation($"every ping on a socket not cut off gets its pong ({how})", client.ToString(), $"{client.PingsSent} pings, {client.PongsReceived} pongs");
            }

            duplicates += CheckCallbacks(client, retried);
        }

        foreach (var (connId, log) in App.Connections)
        {
            if (!claimed.Contains(connId))
            {
                Violation("every connection belongs to a client", connId, $"callbacks {string.Join(' ', log.Entries)}, client key {log.ClientKey}");
            }
        }

        Add("duplicates", duplicates);
        return duplicates;
    }

    /// <summary>The gateway's last heap compaction after a burst ("Compacted the heap after N connects/disconnects: X MB -> Y MB"), to tell a leak from memory the GC keeps.</summary>
    public string LastCompaction() =>
        Gateway.Output.Lines.LastOrDefault(l => l.Contains("Compacted the heap", StringComparison.Ordinal)) is { } line
            ? line[line.IndexOf("Compacted", StringComparison.Ordinal)..]
            : "none logged";

    /// <summary>
    /// The runtime's GC figures from <c>/metrics</c> (every <c>dotnet_gc_*</c> series with "heap" or "committed" in its
    /// name, summed over labels), to tell memory the GC keeps committed from a leak; empty when unreadable.
    /// </summary>
    public async Task<string> GcFiguresAsync()
    {
        try
        {
            using var answer = await _admin.GetAsync(new Uri("/metrics", UriKind.Relative)).ConfigureAwait(false);
            var samples = PrometheusText.Parse(await answer.Content.ReadAsStringAsync().ConfigureAwait(false));
            return string.Join(", ", samples
                .Where(x => x.Name.StartsWith("dotnet_gc_", StringComparison.Ordinal) && (x.Name.Contains("heap", StringComparison.Ordinal) || x.Name.Contains("committed", StringComparison.Ordinal)) && !x.Name.EndsWith("_total", StringComparison.Ordinal))
                .GroupBy(x => x.Name)
                .Select(g => $"{g.Key} {Mib((long)g.Sum(x => x.Value))} MiB"));
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
        {
            return string.Empty;
        }
    }

    /// <summary>Writes the gateway's whole log to <c>GATEWAY_TEST_ARTIFACTS</c> (default <c>artifacts/</c> beside the tests); returns the path.</summary>
    public string SaveGatewayLog()
    {
        var directory = Environment.GetEnvironmentVariable("GATEWAY_TEST_ARTIFACTS") is { Length: > 0 } configured
            ? configured
            : Path.Combine(AppContext.BaseDirectory, "artifacts");
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, string.Create(CultureInfo.InvariantCulture, $"soak-{Settings.Seed}-gateway.log"));
        File.WriteAllLines(path, Gateway.Output.Lines);
        return path;
    }

    /// <summary>Waits until the gateway's RSS is back within <paramref name="margin"/> of the baseline; returns the last reading.</summary>
    public async Task<long> CheckMemoryAsync(long margin)
    {
        var last = Gateway.ResidentBytes();
        try
        {
            await Wait.UntilAsync(() => (last = Sample()) <= RssBaseline + margin, TestTimeouts.Long, "RSS back near its baseline").ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Violation("memory back near its baseline", "gateway", $"RSS {Mib(last)} MiB after the run, baseline {Mib(RssBaseline)} MiB + {Mib(margin)} MiB allowed (peak {Mib(RssPeak)} MiB)");
        }

        return last;
    }

    /// <summary>The gateway process is still running (checked before and after the run).</summary>
    public void CheckAlive()
    {
        if (Gateway.HasExited)
        {
            Violation("the process is alive", "gateway", $"exited with {Gateway.ExitCode}");
        }
    }

    /// <summary>The sum of a <c>/metrics</c> series, or null when it cannot be read.</summary>
    public async Task<double?> MetricAsync(string name)
    {
        try
        {
            return await Gateway.Admin.MetricAsync(name).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is InvalidOperationException or HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }

    /// <summary>The run's figures, one per line, then the line for docs/performance.md.</summary>
    public async Task<IReadOnlyList<string>> ReportAsync(TimeSpan elapsed, int duplicates, long rssAfter)
    {
        var retries = await MetricAsync("gateway_callback_retries_total").ConfigureAwait(false);
        var gc = Gateway.HasExited ? string.Empty : await GcFiguresAsync().ConfigureAwait(false);
        var clients = Clients;
        var sent = clients.Sum(c => (long)c.Sent);
        var delivered = App.Connections.Values.Sum(l => (long)l.Entries.Where(e => e.Kind == CallbackKind.Message).Select(e => e.Seq).Distinct().Count());
        var endings = string.Join(' ', clients.GroupBy(c => c.Ending).OrderBy(g => g.Key).Select(g => $"{g.Key}={g.Count()}"));
        var codes = string.Join(' ', _closeCodes.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}"));
        var modes = string.Join(' ', _modeTime.OrderBy(p => p.Key).Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Key}={p.Value.TotalSeconds:0.0}s")));
        var counters = string.Join(' ', _counters.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key.Replace(' ', '_')}={p.Value}"));
        var inv = CultureInfo.InvariantCulture;
        return
        [
            $"soak {Settings}",
            string.Create(inv, $"elapsed {elapsed.TotalSeconds:0.0} s; connections {clients.Count} ({clients.Count(c => c.Dialect == SoakDialect.Tapr)} TAPR, {clients.Count(c => c.Dialect == SoakDialect.Jac)} jac), at most {Settings.Sockets} at once"),
            $"endings: {endings}",
            $"close codes seen by clients (ending:code=count): {codes}",
            $"messages sent {sent}, delivered {delivered} (distinct), duplicates {duplicates}; pings {clients.Sum(c => c.PingsSent)}, pongs {clients.Sum(c => c.PongsReceived)}",
            $"app: requests {App.Requests}, answered 503 {App.Refused}, hung past the timeout {App.Hung}, malformed {App.Malformed}; time per mode: {modes}",
            string.Create(inv, $"gateway: callback retries {retries?.ToString("0", inv) ?? "n/a"}, peak callbacks pending {PeakPending}; RSS before {Mib(RssBaseline)} MiB, peak {Mib(RssPeak)} MiB, after {Mib(rssAfter)} MiB (last heap compaction: {LastCompaction()}; at the end: {(gc.Length > 0 ? gc : "n/a")})"),
            string.Create(inv, $"admin: slowest call {TimeSpan.FromTicks(Interlocked.Read(ref _slowestAdminTicks)).TotalSeconds:0.00} s; {counters}"),
            $"violations: {ViolationCount}",
            string.Create(inv, $"SOAK seed={Settings.Seed} seconds={elapsed.TotalSeconds:0} max_sockets={Settings.Sockets} connections={clients.Count} sent={sent} delivered={delivered} duplicates={duplicates} retries={retries?.ToString("0", inv) ?? "n/a"} peak_pending={PeakPending} closes=[{codes}] rss_mib={Mib(RssBaseline)}/{Mib(RssPeak)}/{Mib(rssAfter)} violations={ViolationCount}"),
        ];
    }

    /// <summary>Every violation, grouped by invariant (first <paramref name="perInvariant"/> of each), each line naming the seed.</summary>
    public string DescribeViolations(int perInvariant = 8)
    {
        var text = new StringBuilder();
        foreach (var group in _violations.GroupBy(v => v.Invariant))
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"INVARIANT \"{group.Key}\" broken {group.Count()} times (seed {Settings.Seed}):");
            foreach (var (_, subject, detail) in group.Take(perInvariant))
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"  [seed {Settings.Seed}] {subject}: {detail}");
            }
        }

        return text.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        _admin.Dispose();
        await Gateway.DisposeAsync().ConfigureAwait(false);
        await App.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>60 % TAPR; each dialect's mix of endings (slow consumers only on TAPR: a jac client that stops reading also stops answering the keep-alive).</summary>
    private (bool Tapr, SoakEnding Ending) ChooseEnding(bool openAtShutdown)
    {
        var tapr = _random.NextDouble() < 0.6;
        var roll = _random.Next(100);
        var ending = openAtShutdown ? SoakEnding.OpenAtShutdown
            : tapr ? roll switch
            {
                < 35 => SoakEnding.Clean,
                < 50 => SoakEnding.Reset,
                < 55 => SoakEnding.SlowConsumer,
                < 65 => SoakEnding.Oversized,
                < 85 => SoakEnding.AdminClose,
                _ => SoakEnding.Silent,
            }
            : roll switch
            {
                < 40 => SoakEnding.Clean,
                < 58 => SoakEnding.Reset,
                < 68 => SoakEnding.Oversized,
                < 88 => SoakEnding.AdminClose,
                _ => SoakEnding.Silent,
            };
        return (tapr, ending);
    }

    private static string Span(TimeSpan span) => span.ToString("c", CultureInfo.InvariantCulture);

    private static string Mib(long bytes) => (bytes / (1024.0 * 1024)).ToString("0.0", CultureInfo.InvariantCulture);

    private static long? Receipt(AdminResponse response, string field)
    {
        using var document = JsonDocument.Parse(response.Body);
        return document.RootElement.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.Object && data.TryGetProperty(field, out var value)
            ? value.GetInt64()
            : null;
    }

    private static void InterlockedMax(ref long target, long value)
    {
        var current = Interlocked.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }

    private static int? ExpectedCloseCode(SoakEnding ending) => ending switch
    {
        SoakEnding.Clean => 1000,
        SoakEnding.AdminClose => 1000,
        SoakEnding.SlowConsumer => 4001,
        SoakEnding.Oversized => 1009,
        SoakEnding.Silent => 4000,
        SoakEnding.OpenAtShutdown => 1001,
        _ => null,
    };

    private void CountCloseCode(SoakClient client) =>
        _closeCodes.AddOrUpdate($"{client.Ending}:{client.CloseCode?.ToString(CultureInfo.InvariantCulture) ?? "none"}", 1, static (_, n) => n + 1);

    private void CheckCloseCode(SoakClient client)
    {
        if (ExpectedCloseCode(client.Ending) is { } expected && client.CloseCode != expected)
        {
            Violation($"the client sees the close code of its ending ({client.Ending}: {expected})", client.ToString(), $"saw {client.CloseCode?.ToString(CultureInfo.InvariantCulture) ?? "no close frame"}");
        }
    }

    /// <summary>
    /// The gateway's own account of failed attempts: how many events of each (connection, action) had a first
    /// attempt fail (it logs "Callback &lt;action&gt; for connection &lt;id&gt; failed (attempt 1)").
    /// </summary>
    private Dictionary<(string ConnId, CallbackKind Kind), int> RetriedEvents()
    {
        var retried = new Dictionary<(string, CallbackKind), int>();
        foreach (var line in Gateway.Output.Lines)
        {
            var match = RetriedLine().Match(line);
            if (match.Success && Enum.TryParse<CallbackKind>(match.Groups[1].Value, ignoreCase: true, out var kind))
            {
                var key = (match.Groups[2].Value, kind);
                retried[key] = retried.GetValueOrDefault(key) + 1;
            }
        }

        return retried;
    }

    [GeneratedRegex(@"Callback (\w+) for connection (\S+) failed \(attempt 1\)")]
    private static partial Regex RetriedLine();

    private int CheckCallbacks(SoakClient client, Dictionary<(string ConnId, CallbackKind Kind), int> retried)
    {
        var log = App.For(client.ConnId!);
        if (log is null)
        {
            Violation("every connection gets exactly one open and one close", client.ToString(), "the app got no callback at all");
            return 0;
        }

        if (log.OtherClientKey is not null || (log.ClientKey is not null && log.ClientKey != client.Key))
        {
            Violation("a connection's messages are its client's", client.ToString(), $"messages from {log.ClientKey} and {log.OtherClientKey}");
        }

        // Repeats: only of an attempt the gateway did not count as delivered. Either the app saw it cut or hung
        // (not acknowledged), or its 200 came after the gateway's timeout, which only the gateway knows: then the
        // gateway logged that event's failed first attempt, and there are no more such repeats than such events.
        var entries = log.Entries;
        var events = new List<CallbackEntry>(entries.Count);
        var duplicates = 0;
        var repeatedAfterAcknowledged = new HashSet<(CallbackKind, int)>();
        foreach (var entry in entries)
        {
            if (events.Count > 0 && events[^1].SameEventAs(entry))
            {
                if (events[^1].Acknowledged && repeatedAfterAcknowledged.Add((entry.Kind, entry.Seq)))
                {
                    // One logged first failure per event: as many events repeated after a 200 as events that failed.
                    if (repeatedAfterAcknowledged.Count(e => e.Item1 == entry.Kind) > retried.GetValueOrDefault((client.ConnId!, entry.Kind)))
                    {
                        Violation("duplicates only of an attempt that timed out", client.ToString(), $"{entry} again after the gateway had its 200, and the gateway logged no failed attempt for it; callbacks {Summary(entries)}");
                    }
                }

                duplicates++;
                events[^1] = entry;
                continue;
            }

            events.Add(entry);
        }

        var opens = events.Count(e => e.Kind == CallbackKind.Open);
        var closes = events.Count(e => e.Kind == CallbackKind.Close);
        if (opens != 1 || closes != 1 || events[0].Kind != CallbackKind.Open || events[^1].Kind != CallbackKind.Close)
        {
            Violation("every connection gets exactly one open and one close, the close after all its messages", client.ToString(), $"callbacks {Summary(entries)}");
        }

        var seqs = events.Where(e => e.Kind == CallbackKind.Message).Select(e => e.Seq).ToList();
        var prefix = seqs.Select((seq, i) => seq == i + 1).All(x => x);
        var mostSent = client.Sent + (client.SendFailed ? 1 : 0);
        if (!prefix || seqs.Count > mostSent)
        {
            Violation("the app gets a gap-free in-order prefix of what the client sent", client.ToString(), $"callbacks {Summary(entries)}");
        }
        else if (client.Ending == SoakEnding.Clean && seqs.Count != client.Sent)
        {
            Violation("the app gets everything a cleanly closed client sent", client.ToString(), $"{seqs.Count} of {client.Sent}; callbacks {Summary(entries)}");
        }
        else if (seqs.Count < client.Sent)
        {
            Count($"clients losing messages on {client.Ending}");
            Add($"messages lost on {client.Ending}", client.Sent - seqs.Count);
            if (client.Ending is SoakEnding.Silent or SoakEnding.SlowConsumer or SoakEnding.Oversized)
            {
                // These clients sent their last numbered message long before the close (silent: a ping deadline;
                // slow: a flood) or right before the frame that caused it (oversized): the gateway read every one
                // before it closed, and what was read before a close is delivered before the close (issue 14).
                Violation($"what the gateway read before closing is delivered ({client.Ending})", client.ToString(), $"{seqs.Count} of {client.Sent} delivered; callbacks {Summary(entries)}");
            }
        }

        return duplicates;
    }

    private static string Summary(IReadOnlyList<CallbackEntry> entries)
    {
        var text = string.Join(' ', entries.Select(e => e.Acknowledged ? e.ToString() : e + "*"));
        return text.Length > 600 ? text[..300] + " … " + text[^300..] : text;
    }

    private async Task TimeInModeAsync(AppMode mode, TimeSpan span, CancellationToken cancellationToken)
    {
        await App.SetModeAsync(mode).ConfigureAwait(false);
        var started = _clock.Elapsed;
        try
        {
            await Task.Delay(span, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _modeTime[mode] = _modeTime.GetValueOrDefault(mode) + (_clock.Elapsed - started);
        }
    }

    private async Task<double?> PendingCallbacksAsync() => await MetricAsync("gateway_callback_pending").ConfigureAwait(false);

    /// <summary>Reads the gateway's RSS and keeps the peak; returns the reading (-1 once the process has gone).</summary>
    private long Sample()
    {
        try
        {
            var rss = Gateway.ResidentBytes();
            InterlockedMax(ref _rssPeak, rss);
            return rss;
        }
        catch (Exception exception) when (exception is IOException or InvalidOperationException)
        {
            // The process has gone; CheckAlive says so.
            return -1;
        }
    }

    private async Task<AdminResponse?> AdminAsync(string what, string path, string? body)
    {
        Count("admin " + what + " calls");
        AdminResponse response;
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var request = new HttpRequestMessage(body is null ? HttpMethod.Get : HttpMethod.Post, path);
            if (body is not null)
            {
                request.Content = new StringContent(body, Encoding.UTF8, "application/json");
            }

            using var answer = await _admin.SendAsync(request).ConfigureAwait(false);
            response = new AdminResponse(answer.StatusCode, await answer.Content.ReadAsByteArrayAsync().ConfigureAwait(false), answer.Content.Headers.ContentType?.ToString());
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
        {
            Violation("every admin call is answered 200 with valid JSON", what, $"no answer: {exception.Message}");
            return null;
        }
        finally
        {
            InterlockedMax(ref _slowestAdminTicks, Stopwatch.GetElapsedTime(started).Ticks);
        }

        if (response.Status != HttpStatusCode.OK)
        {
            Violation("every admin call is answered 200 with valid JSON", what, response.ToString());
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(response.Body);
            if (!document.RootElement.TryGetProperty("code", out var code) || code.GetInt32() != 0)
            {
                Violation("every admin call is answered 200 with valid JSON", what, $"code not 0: {response}");
                return null;
            }
        }
        catch (JsonException exception)
        {
            Violation("every admin call is answered 200 with valid JSON", what, $"{exception.Message}: {response}");
            return null;
        }

        return response;
    }

    private void Count(string name) => _counters.AddOrUpdate(name, 1, static (_, n) => n + 1);

    private void Add(string name, long amount) => _counters.AddOrUpdate(name, amount, (_, n) => n + amount);
}
