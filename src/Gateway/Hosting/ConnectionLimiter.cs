namespace Gateway.Hosting;

/// <summary>
/// Caps concurrent WebSocket connections below what the process may open, so that a flood of
/// clients is refused cleanly (HTTP 503 before the upgrade) instead of exhausting file descriptors,
/// which would take down the sockets already held and the admin API with them.
/// </summary>
internal sealed partial class ConnectionLimiter
{
    private readonly ILogger<ConnectionLimiter> _log;
    private readonly GatewayMetrics _metrics;
    /// <summary>TCP connections allowed beyond the WebSocket cap, for the admin API and health checks.</summary>
    public const int AdminHeadroom = 64;

    private int _current;
    private int _transports;
    private long _lastWarning;
    private volatile bool _closed;

    public ConnectionLimiter(int maxConnections, long? fileLimit, int openAtStart, ILogger<ConnectionLimiter> log, GatewayMetrics metrics)
    {
        MaxConnections = maxConnections;
        FileLimit = fileLimit;
        OpenAtStart = openAtStart;
        _log = log;
        _metrics = metrics;
    }

    /// <summary>The cap.</summary>
    public int MaxConnections { get; }

    /// <summary>The open-file limit the cap was derived from, when known.</summary>
    public long? FileLimit { get; }

    /// <summary>Descriptors open at start-up.</summary>
    public int OpenAtStart { get; }

    /// <summary>Connections admitted and not yet released.</summary>
    public int Current => Volatile.Read(ref _current);

    /// <summary>True once shutdown has begun: everything is refused.</summary>
    public bool IsClosed => _closed;

    /// <summary>
    /// Descriptors the runtime may still open after the limit is computed (assemblies load lazily, each held
    /// open twice; the actor system and the telemetry exporters start later and load theirs: measured 121
    /// from start-up to the first connection served, metrics scraped and connections listed).
    /// </summary>
    public const int RuntimeGrowth = 160;

    /// <summary>
    /// The app-callback connections to reserve: the configured pool, but under a small open-file limit at
    /// most a quarter of what is left after start-up (the callback pool is clamped to the same number).
    /// </summary>
    public static int CallbackReserve(long? fileLimit, int callbackConnections, int openNow) =>
        fileLimit is { } limit && limit <= int.MaxValue
            ? (int)Math.Clamp((limit - openNow) / 4, 1, Math.Max(callbackConnections, 1))
            : callbackConnections;

    /// <summary>
    /// The cap for a process allowed <paramref name="fileLimit"/> open files, of which <paramref name="openNow"/>
    /// are open at start-up: what is left after those, room for the runtime to open more (and one epoll descriptor
    /// per core for its socket event threads), the app-callback pool (<see cref="CallbackReserve"/>), the admin
    /// headroom admitted beyond the cap, and a small margin.
    /// At or past the limit accept() fails and the runtime may abort the process, so the cap errs low.
    /// </summary>
    public static int ForFileLimit(long? fileLimit, int callbackConnections, int openNow)
    {
        if (fileLimit is not { } limit || limit > int.MaxValue)
        {
            return 100_000;
        }

        // One more per core: with inline socket completions the runtime opens an epoll descriptor for each of its socket
        // event threads, one per core, when the first socket is created (InlineSocketCompletions).
        var reserve = openNow + RuntimeGrowth + Environment.ProcessorCount + CallbackReserve(fileLimit, callbackConnections, openNow) + AdminHeadroom + 16;
        return (int)Math.Max(limit - reserve, 1);
    }

    public bool TryAcquire()
    {
        if (_closed)
        {
            _metrics.ConnectionRejected("shutdown");
            return false;
        }

        if (Interlocked.Increment(ref _current) > MaxConnections)
        {
            Interlocked.Decrement(ref _current);
            _metrics.ConnectionRejected("limit");
            var now = Environment.TickCount64;
            var last = Interlocked.Read(ref _lastWarning);
            if (now - last > 10_000 && Interlocked.CompareExchange(ref _lastWarning, now, last) == last)
            {
                Log.LimitReached(_log, MaxConnections);
            }

            return false;
        }

        return true;
    }

    public void Release() => Interlocked.Decrement(ref _current);

    /// <summary>
    /// Admits one more TCP connection of any kind while the process keeps a reserve of file descriptors:
    /// the WebSocket cap plus headroom for admin and health calls.
    /// </summary>
    public bool TryAdmitTransport()
    {
        if (Interlocked.Increment(ref _transports) > MaxConnections + AdminHeadroom)
        {
            Interlocked.Decrement(ref _transports);
            _metrics.ConnectionRejected("limit");
            return false;
        }

        return true;
    }

    public void ReleaseTransport() => Interlocked.Decrement(ref _transports);

    public void Close() => _closed = true;

    private static partial class Log
    {
        [LoggerMessage(EventId = 600, Level = LogLevel.Warning, Message = "Connection limit of {MaxConnections} reached: refusing new WebSocket connections with 503 (set Gateway:Limits:MaxConnections or raise the open-file limit)")]
        public static partial void LimitReached(ILogger logger, int maxConnections);
    }
}
