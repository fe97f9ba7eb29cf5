using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Gateway.Benchmarks.Measurement;
using Gateway.Benchmarks.Wire;

namespace Gateway.Benchmarks.Client;

/// <summary>
/// The <c>client</c> mode: a process holding its share of the connections, driven by commands on
/// stdin and reporting on stdout (see <see cref="ClientProtocol"/>). It exits when stdin closes, so it
/// never outlives the orchestrator.
/// </summary>
internal sealed class ClientWorker
{
    private readonly ClientConnection[] _connections;
    private readonly IPEndPoint _target;
    private readonly string _hostAndPort;
    private readonly string _path;
    private readonly string _userHeader;
    private readonly IPAddress[] _sources;
    private readonly int _connectConcurrency;
    private readonly long _pingInterval;
    private readonly int _slowReceiveBuffer;
    private readonly int _slowMaxSegment;
    private readonly bool _slowAbsent;
    private readonly TimeSpan _connectTimeout;
    private readonly StreamWriter _out;
    private readonly Dictionary<string, int> _errors = [];
    private readonly Dictionary<string, int> _closes = [];
    private readonly CancellationTokenSource _stop = new();
    private volatile ClientPhase? _phase;
    private volatile bool _pinging;

    private ClientWorker(BenchmarkOptions options)
    {
        var first = options.Int("first", 0);
        var count = options.Int("count", 100);
        Users = Math.Max(1, options.Int("users", 100));
        var slowShare = options.Double("slow-share", 0);
        _connections = new ClientConnection[count];
        for (var i = 0; i < count; i++)
        {
            var index = first + i;
            _connections[i] = new ClientConnection(this, index, ClientProtocol.UserOf(index, Users), ClientProtocol.IsSlow(index, slowShare));
        }

        var host = options.String("host", "127.0.0.1");
        var port = options.Int("port", 40010);
        _target = new IPEndPoint(IPAddress.Parse(host), port);
        _hostAndPort = FormattableString.Invariant($"{host}:{port}");
        _path = options.String("path", "/ws");
        _userHeader = options.String("user-header", "X-Bfl-User");
        _sources = options.String("sources", "127.0.0.2").Split(',').Select(IPAddress.Parse).ToArray();
        _connectConcurrency = Math.Max(1, options.Int("connect-concurrency", 64));
        _pingInterval = (long)(options.Double("ping-seconds", 30) * Stopwatch.Frequency);
        _slowReceiveBuffer = options.Int("slow-rcvbuf", 2048);
        _slowMaxSegment = options.Int("slow-mss", 536);
        _slowAbsent = options.Flag("slow-absent");
        _connectTimeout = TimeSpan.FromSeconds(options.Double("connect-timeout", 10));
        _out = new StreamWriter(Console.OpenStandardOutput()) { AutoFlush = true };
    }

    public int Users { get; }

    public ClientPhase? CurrentPhase => _phase;

    public static async Task<int> RunAsync(BenchmarkOptions options)
    {
        var worker = new ClientWorker(options);
        worker.Write(new ClientReport { Type = "ready" });
        var pings = worker.PingLoopAsync();
        using var input = new StreamReader(Console.OpenStandardInput());
        try
        {
            while (await input.ReadLineAsync().ConfigureAwait(false) is { } line)
            {
                if (string.IsNullOrWhiteSpace(line))
                {
                    continue;
                }

                var command = JsonSerializer.Deserialize<ClientCommand>(line, ClientProtocol.Json)!;
                if (!await worker.HandleAsync(command).ConfigureAwait(false))
                {
                    break;
                }
            }
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            worker.Write(new ClientReport { Type = "error", Message = exception.ToString() });
            return 1;
        }
        finally
        {
            worker._pinging = false;
            await worker._stop.CancelAsync().ConfigureAwait(false);
            foreach (var connection in worker._connections)
            {
                connection.Abort();
            }
        }

        await pings.ConfigureAwait(false);
        return 0;
    }

    public void CountError(string reason)
    {
        lock (_errors)
        {
            _errors[reason] = _errors.GetValueOrDefault(reason) + 1;
        }
    }

    /// <summary>A connection ended (close frame from the server, or lost): counted by code; a phase it took part in stops waiting for it.</summary>
    public void OnEnded(ClientConnection connection, int code)
    {
        lock (_closes)
        {
            var key = code.ToString(CultureInfo.InvariantCulture);
            _closes[key] = _closes.GetValueOrDefault(key) + 1;
        }

        if (_phase is { } phase && connection.JoinedPhase == phase.Id && !connection.Complete)
        {
            phase.ConnectionLost();
        }
    }

    private async Task<bool> HandleAsync(ClientCommand command)
    {
        switch (command.Cmd)
        {
            case "warmup":
                await WarmUpAsync(command.Messages).ConfigureAwait(false);
                Write(new ClientReport { Type = "warmedup" });
                break;
            case "connect":
                Write(await ConnectAllAsync().ConfigureAwait(false));
                break;
            case "expect" or "echo":
                BeginPhase(command);
                break;
            case "report":
                if (_phase is { } phase && phase.Id == command.Phase)
                {
                    Write(PhaseReport(phase));
                }
                else
                {
                    Write(new ClientReport { Type = "phase", Phase = command.Phase });
                }

                break;
            case "stats":
                Write(await StatsAsync(command.Quiesce).ConfigureAwait(false));
                break;
            case "close":
                await CloseAllAsync().ConfigureAwait(false);
                Write(new ClientReport { Type = "closed", ServerCloses = Snapshot(_closes) });
                return false;
            default:
                Write(new ClientReport { Type = "error", Message = "unknown command " + command.Cmd });
                break;
        }

        return true;
    }

    private async Task<ClientReport> ConnectAllAsync()
    {
        var handshake = new LatencyHistogram();
        var opened = 0;
        var failed = 0;
        var next = -1;
        var start = Stopwatch.GetTimestamp();
        var progress = Stopwatch.StartNew();

        async Task ConnectSomeAsync()
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < _connections.Length)
            {
                var connection = _connections[i];
                if (connection.Slow && _slowAbsent)
                {
                    // A baseline without the slow clients: they are not opened at all.
                    continue;
                }

                var key = WsFrames.NewKey();
                var request = WsFrames.UpgradeRequest(_hostAndPort, _path, _userHeader, ClientProtocol.UserName(connection.User), key);
                var source = _sources[connection.Index % _sources.Length];
                using var timeout = new CancellationTokenSource(_connectTimeout);
                var began = Stopwatch.GetTimestamp();
                var error = await connection.ConnectAsync(_target, source, request, WsFrames.AcceptFor(key), connection.Slow ? _slowReceiveBuffer : 0, connection.Slow ? _slowMaxSegment : 0, timeout.Token).ConfigureAwait(false);
                var ended = Stopwatch.GetTimestamp();
                if (error is null)
                {
                    lock (handshake)
                    {
                        handshake.Record((ended - began) / 1000);
                    }

                    Interlocked.Increment(ref opened);
                    connection.NextPing = ended + _pingInterval;
                    if (!connection.Slow)
                    {
                        _ = connection.ReadLoopAsync();
                    }
                }
                else
                {
                    Interlocked.Increment(ref failed);
                    CountError(error);
                }

                if (progress.Elapsed > TimeSpan.FromSeconds(5))
                {
                    lock (handshake)
                    {
                        if (progress.Elapsed > TimeSpan.FromSeconds(5))
                        {
                            Console.Error.WriteLine($"  client {Environment.ProcessId}: {opened} open, {failed} failed");
                            progress.Restart();
                        }
                    }
                }
            }
        }

        var workers = Enumerable.Range(0, Math.Min(_connectConcurrency, Math.Max(1, _connections.Length))).Select(_ => Task.Run(ConnectSomeAsync));
        await Task.WhenAll(workers).ConfigureAwait(false);
        var end = Stopwatch.GetTimestamp();
        _pinging = true;
        return new ClientReport
        {
            Type = "connected",
            Opened = opened,
            Failed = failed,
            StartTs = start,
            EndTs = end,
            Handshake = handshake.ToWire(),
            Errors = Snapshot(_errors),
        };
    }

    /// <summary>
    /// Opens <paramref name="count"/> connections of its own, pings each and waits for the pongs, closes
    /// them; then forgets what they counted. Nothing of this process is compiled yet when it starts, and
    /// the measured connects should not pay for the JIT.
    /// </summary>
    private async Task WarmUpAsync(int count)
    {
        var first = _connections.Length > 0 ? _connections[0].Index : 0;
        var connections = Enumerable.Range(first, count).Select(i => new ClientConnection(this, i, ClientProtocol.UserOf(i, Users), slow: false)).ToArray();
        await Task.WhenAll(connections.Select(async connection =>
        {
            var key = WsFrames.NewKey();
            var request = WsFrames.UpgradeRequest(_hostAndPort, _path, _userHeader, ClientProtocol.UserName(connection.User), key);
            using var timeout = new CancellationTokenSource(_connectTimeout);
            if (await connection.ConnectAsync(_target, _sources[connection.Index % _sources.Length], request, WsFrames.AcceptFor(key), 0, 0, timeout.Token).ConfigureAwait(false) is null)
            {
                _ = connection.ReadLoopAsync();
                await connection.PingAsync().ConfigureAwait(false);
            }
        })).ConfigureAwait(false);

        var waited = Stopwatch.StartNew();
        while (waited.Elapsed < TimeSpan.FromSeconds(5) && connections.Any(c => c.IsOpen && c.PongsReceived < Interlocked.Read(ref c.PingsSent)))
        {
            await Task.Delay(20).ConfigureAwait(false);
        }

        await Task.WhenAll(connections.Select(c => c.CloseAsync())).ConfigureAwait(false);
        waited.Restart();
        while (waited.Elapsed < TimeSpan.FromSeconds(5) && connections.Any(c => c.IsOpen))
        {
            await Task.Delay(20).ConfigureAwait(false);
        }

        foreach (var connection in connections)
        {
            connection.Abort();
        }

        lock (_errors)
        {
            _errors.Clear();
        }

        lock (_closes)
        {
            _closes.Clear();
        }
    }

    private void BeginPhase(ClientCommand command)
    {
        var phase = new ClientPhase(command, done => Write(PhaseReport(done)));
        var active = 0;
        var nothingExpected = 0;
        foreach (var connection in _connections)
        {
            if (connection.IsOpen && !connection.Slow)
            {
                connection.JoinedPhase = phase.Id;
                active++;
                if (connection.Expected(phase) == 0)
                {
                    // E.g. a user no send of this phase goes to: done before it starts.
                    nothingExpected++;
                }
            }
        }

        phase.Active = active;
        phase.Finish(nothingExpected);
        _phase = phase;
        Write(new ClientReport { Type = "ack", Phase = phase.Id, Connections = active, StartTs = Stopwatch.GetTimestamp() });
        if (phase.IsEcho)
        {
            foreach (var connection in _connections)
            {
                if (connection.JoinedPhase == phase.Id)
                {
                    connection.RequestPump();
                }
            }
        }

        phase.CheckDone();
    }

    private ClientReport PhaseReport(ClientPhase phase)
    {
        var report = new ClientReport { Type = "phase", Phase = phase.Id, Connections = phase.Active, Lost = Volatile.Read(ref phase.Lost), FirstTs = long.MaxValue };
        foreach (var connection in _connections)
        {
            if (connection.JoinedPhase != phase.Id)
            {
                continue;
            }

            var expected = connection.Expected(phase);
            if (connection.CountedPhase != phase.Id)
            {
                report.Missing += expected;
                continue;
            }

            report.Complete += connection.Complete ? 1 : 0;
            report.Received += connection.Received;
            report.Duplicates += connection.Duplicates;
            report.Unexpected += connection.Unexpected;
            report.OutOfOrder += connection.OutOfOrder;
            report.Sent += connection.EchoSent;
            report.Missing += Math.Max(0, expected - connection.Received);
            if (connection.Received > 0)
            {
                report.FirstTs = Math.Min(report.FirstTs, connection.FirstTs);
                report.LastTs = Math.Max(report.LastTs, connection.LastTs);
            }
        }

        if (report.FirstTs == long.MaxValue)
        {
            report.FirstTs = 0;
        }

        report.Latency = phase.Latency().ToWire();
        report.WorstBySend = phase.WorstBySend();
        report.Errors = Snapshot(_errors);
        report.ServerCloses = Snapshot(_closes);
        return report;
    }

    private async Task<ClientReport> StatsAsync(bool quiesce)
    {
        if (quiesce)
        {
            _pinging = false;
            var waited = Stopwatch.StartNew();
            while (waited.Elapsed < TimeSpan.FromSeconds(3) && Reading().Where(c => c.IsOpen).Sum(c => Interlocked.Read(ref c.PingsSent) - c.PongsReceived) > 0)
            {
                await Task.Delay(50).ConfigureAwait(false);
            }
        }

        var report = new ClientReport
        {
            Type = "stats",
            Open = _connections.Count(c => c.IsOpen),
            PingsSent = Reading().Sum(c => Interlocked.Read(ref c.PingsSent)),
            PongsReceived = Reading().Sum(c => c.PongsReceived),
            Errors = Snapshot(_errors),
            ServerCloses = Snapshot(_closes),
        };
        _pinging = true;
        return report;
    }

    private IEnumerable<ClientConnection> Reading() => _connections.Where(c => !c.Slow && c.Socket is not null);

    private async Task CloseAllAsync()
    {
        _pinging = false;
        await Task.WhenAll(_connections.Where(c => c.IsOpen && !c.Slow).Select(c => c.CloseAsync())).ConfigureAwait(false);
        var waited = Stopwatch.StartNew();
        while (waited.Elapsed < TimeSpan.FromSeconds(5) && _connections.Any(c => c.IsOpen && !c.Slow))
        {
            await Task.Delay(50).ConfigureAwait(false);
        }

        foreach (var connection in _connections)
        {
            connection.Abort();
        }
    }

    /// <summary>Sends each open connection's JSON ping once its interval has passed since its last one.</summary>
    private async Task PingLoopAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(200));
        while (await Tick(timer).ConfigureAwait(false))
        {
            if (!_pinging)
            {
                continue;
            }

            var now = Stopwatch.GetTimestamp();
            foreach (var connection in _connections)
            {
                if (connection.IsOpen && now >= connection.NextPing)
                {
                    connection.NextPing = now + _pingInterval;
                    _ = connection.PingAsync();
                }
            }
        }
    }

    private async Task<bool> Tick(PeriodicTimer timer)
    {
        try
        {
            return await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private void Write(ClientReport report)
    {
        var line = JsonSerializer.Serialize(report, ClientProtocol.Json);
        lock (_out)
        {
            _out.WriteLine(line);
        }
    }

    private static Dictionary<string, int> Snapshot(Dictionary<string, int> counts)
    {
        lock (counts)
        {
            return new Dictionary<string, int>(counts);
        }
    }
}
