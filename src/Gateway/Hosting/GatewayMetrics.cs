using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Gateway.Connections;

namespace Gateway.Hosting;

/// <summary>
/// The gateway's instruments on the <c>Gateway</c> meter, named in OpenTelemetry's semantic-convention
/// style (<c>gateway.connection.duration</c>, unit <c>s</c>) as ASP.NET Core's <c>kestrel.*</c> meters are.
/// Exported by OpenTelemetry (Prometheus at <c>/metrics</c>, OTLP when configured) and readable with
/// <c>dotnet-counters monitor -n Gateway --counters Gateway</c>. Recording with no listener costs a
/// flag check. The running totals the admin page's live figures need anyway (connections opened and
/// closed, messages in and out, callbacks in flight and pending) are kept here with interlocked adds, and
/// the instruments that count the same things are observable ones that read them when collected, so a
/// message or a callback pays for no synchronous measurement of them (OpenTelemetry's rule: use an
/// asynchronous instrument for a value that is already kept).
/// </summary>
/// <remarks>Attributes: <c>gateway.dialect</c> (<c>tapr</c>, <c>jac</c>), <c>gateway.close.code</c> (the
/// WebSocket close code, PROTOCOL.md §6), <c>gateway.rejection.reason</c> (<c>limit</c>, <c>shutdown</c>,
/// <c>identity</c>), <c>gateway.callback.outcome</c> (<c>delivered</c>, <c>rejected</c>, <c>transient</c>),
/// <c>http.route</c> (admin routes).</remarks>
internal sealed class GatewayMetrics : IDisposable
{
    /// <summary>The meter's name: what an OpenTelemetry <c>AddMeter</c> or dotnet-counters subscribes to.</summary>
    public const string MeterName = "Gateway";

    private static readonly KeyValuePair<string, object?> Tapr = new("gateway.dialect", "tapr");
    private static readonly KeyValuePair<string, object?> Jac = new("gateway.dialect", "jac");

    private static readonly Dialect[] Dialects = Enum.GetValues<Dialect>();

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly Counter<long> _closed;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _rejected;
    private readonly Counter<long> _slowConsumers;
    private readonly Counter<long> _dropped;
    private readonly Histogram<long> _fanout;
    private readonly Histogram<double> _queueDelay;
    private readonly Histogram<double> _callbackDuration;
    private readonly Counter<long> _callbackRetries;
    private readonly Histogram<double> _adminDuration;
    private readonly Counter<long> _peerMessages;
    private readonly Counter<long> _routesRelayed;
    private readonly ConcurrentDictionary<int, long> _closedByCode = new();

    // By dialect, indexed by (int)Dialect.
    private readonly long[] _connectionsOpened = new long[Dialects.Length];
    private readonly long[] _connectionsClosed = new long[Dialects.Length];
    private readonly long[] _messagesIn = new long[Dialects.Length];
    private long _rejectedLimit;
    private long _rejectedOther;
    private long _messagesOut;
    private long _delivered;
    private long _slowConsumerCount;
    private long _callbacksPending;
    private long _callbacksInFlight;
    private long _callbackRetryCount;
    private Func<long>? _inboundPendingBytes;
    private Func<long>? _connectionLimit;
    private Func<long>? _users;
    private int _reachableNodes = -1; // -1: clustering off, nothing to report

    /// <param name="meterFactory">The host's meter factory (ASP.NET Core registers one); without it, a meter of our own.</param>
    public GatewayMetrics(IMeterFactory? meterFactory = null)
    {
        _ownsMeter = meterFactory is null;
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);

        // Closed before opened: a close counted between the two reads can only make the difference larger, never negative.
        _meter.CreateObservableUpDownCounter(
            "gateway.connection.active",
            () => ByDialect(dialect => -Volatile.Read(ref _connectionsClosed[(int)dialect]) + Volatile.Read(ref _connectionsOpened[(int)dialect])),
            "{connection}",
            "Open WebSocket connections.");
        _meter.CreateObservableCounter("gateway.connection.opened", () => ByDialect(dialect => Volatile.Read(ref _connectionsOpened[(int)dialect])), "{connection}", "WebSocket connections upgraded.");
        _closed = _meter.CreateCounter<long>("gateway.connection.closed", "{connection}", "WebSocket connections ended, by close code (1006: lost).");
        _duration = _meter.CreateHistogram(
            "gateway.connection.duration",
            "s",
            "How long WebSocket connections stayed open, by close code.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1, 10, 60, 300, 900, 3600, 14400, 86400] });
        _rejected = _meter.CreateCounter<long>("gateway.connection.rejected", "{connection}", "Upgrades refused before the socket opened, by reason.");
        _slowConsumers = _meter.CreateCounter<long>("gateway.connection.slow_consumer", "{connection}", "Clients closed with 4001 because their outbound queue overflowed.");
        _meter.CreateObservableCounter("gateway.message.received", () => ByDialect(dialect => Volatile.Read(ref _messagesIn[(int)dialect])), "{message}", "Data messages received from clients (TAPR pings included).");
        _meter.CreateObservableCounter("gateway.message.sent", () => Volatile.Read(ref _messagesOut), "{message}", "Messages queued to clients by admin sends.");
        _dropped = _meter.CreateCounter<long>("gateway.message.dropped", "{message}", "Messages an admin send matched but could not queue (slow consumer or closing).");
        _fanout = _meter.CreateHistogram<long>(
            "gateway.send.fanout",
            "{connection}",
            "Connections matched by one admin send.",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [0, 1, 2, 5, 10, 50, 100, 500, 1000, 5000, 10000, 50000] });
        _queueDelay = _meter.CreateHistogram(
            "gateway.outbound.queue_delay",
            "s",
            "Time a queued message waited in a connection's outbound queue before it was written (a message that finds nothing queued is written at once and not recorded).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5] });
        _callbackDuration = _meter.CreateHistogram(
            "gateway.callback.duration",
            "s",
            "Duration of one callback attempt to the app, by outcome.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] });
        _meter.CreateObservableUpDownCounter("gateway.callback.active_requests", () => Volatile.Read(ref _callbacksInFlight), "{request}", "Callback requests in flight to the app.");
        _callbackRetries = _meter.CreateCounter<long>("gateway.callback.retries", "{retry}", "Callback attempts that failed transiently and were scheduled again.");
        _meter.CreateObservableUpDownCounter("gateway.callback.pending", () => Volatile.Read(ref _callbacksPending), "{event}", "Connection events queued for the app and not yet delivered (the backlog).");
        _adminDuration = _meter.CreateHistogram(
            "gateway.admin.request.duration",
            "s",
            "Duration of admin API requests, by route.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5] });
        _meter.CreateObservableUpDownCounter("gateway.inbound.pending", () => _inboundPendingBytes?.Invoke() ?? 0, "By", "Client bytes read and held until the app has taken them (backpressure), plus bytes of messages still arriving.");
        _meter.CreateObservableGauge("gateway.connection.limit", () => _connectionLimit?.Invoke() ?? 0, "{connection}", "Most concurrent WebSocket connections admitted.");
        _meter.CreateObservableGauge("gateway.user.active", () => _users?.Invoke() ?? 0, "{user}", "Users with at least one open connection (sampled once a second).");
        _peerMessages = _meter.CreateCounter<long>("gateway.cluster.peer_messages", "{message}", "Admin commands sent to other gateways of the cluster, by routing (routed: only to the nodes that hold a match; broadcast: scatter-gather to every reachable node).");
        _routesRelayed = _meter.CreateCounter<long>("gateway.cluster.routes_relayed", "{message}", "jac user/channel/client events relayed to other gateways of the cluster (one per node per event).");
        _meter.CreateObservableGauge(
            "gateway.cluster.reachable_nodes",
            () => Volatile.Read(ref _reachableNodes) is var nodes and >= 0 ? [new Measurement<int>(nodes)] : Array.Empty<Measurement<int>>(),
            "{node}",
            "Up cluster members this gateway can reach and that have not begun to leave, itself included (only with clustering on).");
    }

    /// <summary>With clustering on: <paramref name="count"/> admin commands went to other nodes by <paramref name="routing"/> (<c>broadcast</c> or <c>routed</c>).</summary>
    public void PeerMessages(string routing, int count) =>
        _peerMessages.Add(count, new KeyValuePair<string, object?>("gateway.cluster.routing", routing));

    /// <summary>With clustering on: <paramref name="count"/> jac routes were relayed to other nodes.</summary>
    public void RoutesRelayed(int count) => _routesRelayed.Add(count);

    /// <summary>With clustering on: the Up members this node can reach now, itself included.</summary>
    public void ReachableNodes(int count) => Volatile.Write(ref _reachableNodes, count);

    /// <summary>Open connections: opened minus closed, all dialects (closed read first, so never negative).</summary>
    public long ConnectionsCurrent => -Sum(_connectionsClosed) + Sum(_connectionsOpened);

    /// <summary>Connects plus disconnects so far.</summary>
    public long Churn => Sum(_connectionsOpened) + Sum(_connectionsClosed);

    /// <summary>Running totals for the admin page.</summary>
    public Totals Snapshot() => new(
        Sum(_connectionsOpened),
        Sum(_connectionsClosed),
        Volatile.Read(ref _rejectedLimit),
        Volatile.Read(ref _rejectedOther),
        Sum(_messagesIn),
        Volatile.Read(ref _messagesOut),
        Volatile.Read(ref _slowConsumerCount),
        Volatile.Read(ref _callbacksPending),
        Volatile.Read(ref _callbacksInFlight),
        Volatile.Read(ref _callbackRetryCount),
        _inboundPendingBytes?.Invoke() ?? 0);

    /// <summary>Connections ended so far, by close code, in code order.</summary>
    public IReadOnlyList<(int Code, long Count)> ClosedByCode() =>
        [.. _closedByCode.OrderBy(pair => pair.Key).Select(pair => (Code: pair.Key, Count: pair.Value))];

    /// <summary>Connects the observable instruments to their sources (called once at start-up).</summary>
    public void Observe(Func<long> inboundPendingBytes, Func<long> connectionLimit, Func<long> users)
    {
        _inboundPendingBytes = inboundPendingBytes;
        _connectionLimit = connectionLimit;
        _users = users;
    }

    /// <summary>A socket was upgraded; returns the timestamp <see cref="ConnectionClosed"/> measures from.</summary>
    public long ConnectionOpened(Dialect dialect)
    {
        Interlocked.Increment(ref _connectionsOpened[(int)dialect]);
        return Stopwatch.GetTimestamp();
    }

    /// <summary>A socket ended with <paramref name="code"/> (1006 when lost) after opening at <paramref name="openedAt"/>.</summary>
    public void ConnectionClosed(Dialect dialect, int code, long openedAt)
    {
        Interlocked.Increment(ref _connectionsClosed[(int)dialect]);
        var tags = new TagList { DialectTag(dialect), { "gateway.close.code", code } };
        _closed.Add(1, tags);
        _closedByCode.AddOrUpdate(code, 1, static (_, count) => count + 1);
        if (_duration.Enabled)
        {
            _duration.Record(Stopwatch.GetElapsedTime(openedAt).TotalSeconds, tags);
        }
    }

    /// <summary>An upgrade refused: <c>limit</c>, <c>shutdown</c>, <c>identity</c> or <c>origin</c>.</summary>
    public void ConnectionRejected(string reason)
    {
        Interlocked.Increment(ref reason == "limit" ? ref _rejectedLimit : ref _rejectedOther);
        _rejected.Add(1, new KeyValuePair<string, object?>("gateway.rejection.reason", reason));
    }

    /// <summary>One data message from a client of <paramref name="dialect"/> (TAPR pings included).</summary>
    public void MessageIn(Dialect dialect) => Interlocked.Increment(ref _messagesIn[(int)dialect]);

    /// <summary>
    /// Frames queued to this node's own sockets by admin sends and jac routes, as the registry enqueues them. Unlike
    /// <c>gateway.message.sent</c> (each admin send's receipt, cluster-wide, on the node that served the request), this
    /// is what the node itself delivers; the compaction after a burst reads it to tell a busy node (MemoryTrimmer).
    /// </summary>
    public long Delivered => Volatile.Read(ref _delivered);

    /// <summary>Counts <paramref name="enqueued"/> frames queued to this node's sockets.</summary>
    public void Deliver(int enqueued) => Interlocked.Add(ref _delivered, enqueued);

    /// <summary>One admin send: how many connections it matched, queued to and dropped.</summary>
    public void Sent(int matched, int enqueued, int dropped)
    {
        Interlocked.Add(ref _messagesOut, enqueued);
        if (dropped > 0)
        {
            _dropped.Add(dropped);
        }

        _fanout.Record(matched);
    }

    public void SlowConsumer()
    {
        Interlocked.Increment(ref _slowConsumerCount);
        _slowConsumers.Add(1);
    }

    /// <summary>Whether anyone listens to the outbound queue delay (so writers skip reading the clock otherwise).</summary>
    public bool QueueDelayEnabled => _queueDelay.Enabled;

    /// <summary>A queued message written after waiting since <paramref name="enqueuedAt"/> (a <see cref="Stopwatch"/> timestamp).</summary>
    public void QueueDelay(long enqueuedAt, long now) =>
        _queueDelay.Record(Stopwatch.GetElapsedTime(enqueuedAt, now).TotalSeconds);

    /// <summary>One callback attempt began; <see cref="CallbackEnded"/> follows.</summary>
    public void CallbackStarted() => Interlocked.Increment(ref _callbacksInFlight);

    /// <summary>One callback attempt ended after <paramref name="seconds"/> with <paramref name="outcome"/> and HTTP <paramref name="status"/> (0: none).</summary>
    public void CallbackEnded(string outcome, int status, double seconds)
    {
        Interlocked.Decrement(ref _callbacksInFlight);
        var tags = new TagList { { "gateway.callback.outcome", outcome } };
        if (status > 0)
        {
            tags.Add("http.response.status_code", status);
        }

        _callbackDuration.Record(seconds, tags);
    }

    public void CallbackRetry()
    {
        Interlocked.Increment(ref _callbackRetryCount);
        _callbackRetries.Add(1);
    }

    /// <summary>Events added to (positive) or taken off (negative) the callback backlog.</summary>
    public void CallbacksPending(int delta) => Interlocked.Add(ref _callbacksPending, delta);

    /// <summary>An admin request to <paramref name="route"/> took <paramref name="seconds"/>.</summary>
    public void AdminRequest(string route, double seconds) =>
        _adminDuration.Record(seconds, new KeyValuePair<string, object?>("http.route", route));

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }

    private static KeyValuePair<string, object?> DialectTag(Dialect dialect) => dialect == Dialect.Jac ? Jac : Tapr;

    private static long Sum(long[] byDialect)
    {
        var sum = 0L;
        for (var i = 0; i < byDialect.Length; i++)
        {
            sum += Volatile.Read(ref byDialect[i]);
        }

        return sum;
    }

    /// <summary>
    /// One measurement per dialect that has had a connection, so a dialect nobody uses exports no series (its
    /// <c>gateway.message.received</c> appears at 0 with its first socket).
    /// </summary>
    private List<Measurement<long>> ByDialect(Func<Dialect, long> read)
    {
        var measurements = new List<Measurement<long>>(Dialects.Length);
        foreach (var dialect in Dialects)
        {
            if (Volatile.Read(ref _connectionsOpened[(int)dialect]) > 0)
            {
                measurements.Add(new Measurement<long>(read(dialect), DialectTag(dialect)));
            }
        }

        return measurements;
    }

    /// <summary>Running totals since start-up, and the bytes held by backpressure now.</summary>
    public sealed record Totals(
        long ConnectionsOpened,
        long ConnectionsClosed,
        long RejectedLimit,
        long RejectedOther,
        long MessagesIn,
        long MessagesOut,
        long SlowConsumers,
        long CallbacksPending,
        long CallbacksInFlight,
        long CallbackRetries,
        long InboundPendingBytes);
}
