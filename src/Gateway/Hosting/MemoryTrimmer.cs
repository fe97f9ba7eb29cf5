using System.Diagnostics;
using System.Runtime;
using Microsoft.Extensions.Options;

namespace Gateway.Hosting;

/// <summary>
/// Compacts the managed heap once a burst of connects or disconnects has settled. Setting up a socket
/// spans several awaits, so its short-lived objects survive into older generations, where they stay as
/// garbage until a full collection, which an otherwise idle gateway may not run for a long time. One
/// compacting collection after the burst returns that memory; it runs at most once per
/// <see cref="MemoryOptions.MinInterval"/>, only after real churn, and only while messages are not flowing, unless
/// they have not stopped for <see cref="MaxDeferrals"/> intervals (<see cref="ShouldCompact"/>).
/// </summary>
internal sealed partial class MemoryTrimmer(GatewayMetrics metrics, IOptions<GatewayOptions> options, ILogger<MemoryTrimmer> log) : BackgroundService
{
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How many <see cref="MemoryOptions.MinInterval"/>s a due compaction waits, at most, for a quiet period.
    /// </summary>
    internal const int MaxDeferrals = 5;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var memory = options.Value.Memory;
        if (!memory.CompactAfterBursts)
        {
            return;
        }

        using var timer = new PeriodicTimer(Period);
        var lastChurn = metrics.Churn;
        var lastMessages = Messages(metrics);
        var churnAtLastTrim = lastChurn;
        long? lastTrim = null; // Stopwatch timestamps: a step of the wall clock must not force a compaction
        long? dueSince = null;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                var churn = metrics.Churn;
                var recent = churn - lastChurn;
                lastChurn = churn;
                var messages = Messages(metrics);
                var recentMessages = messages - lastMessages;
                lastMessages = messages;
                var connections = metrics.ConnectionsCurrent;
                var threshold = Math.Max(memory.MinChurn, connections / 10);
                var sinceTrim = churn - churnAtLastTrim;
                var now = Stopwatch.GetTimestamp();

                // Due once enough churn has built up; the wait for a quiet period counts from then.
                dueSince = sinceTrim >= threshold ? dueSince ?? now : null;
                if (ShouldCompact(
                    sinceTrim: sinceTrim,
                    recentChurn: recent,
                    threshold: threshold,
                    recentMessages: recentMessages,
                    connections: connections,
                    sinceLastTrim: lastTrim is { } trimmed ? Stopwatch.GetElapsedTime(trimmed, now) : TimeSpan.MaxValue,
                    minInterval: memory.MinInterval,
                    dueFor: Stopwatch.GetElapsedTime(dueSince ?? now, now)))
                {
                    var before = GC.GetTotalMemory(forceFullCollection: false);
                    GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
                    GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                    Log.Compacted(log, sinceTrim, before / 1024 / 1024, GC.GetTotalMemory(forceFullCollection: false) / 1024 / 1024);
                    churnAtLastTrim = churn;
                    lastTrim = Stopwatch.GetTimestamp();
                    dueSince = null;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Shutting down.
        }
    }

    /// <summary>
    /// Whether to compact now. A burst has settled: at least <paramref name="threshold"/> connects and disconnects
    /// since the last compaction (<paramref name="sinceTrim"/>), under a tenth of that in the last period
    /// (<paramref name="recentChurn"/>), and the last compaction at least <paramref name="minInterval"/> ago. And the
    /// node is quiet: fewer client messages and frames queued to its sockets in the last period
    /// (<paramref name="recentMessages"/>) than connections open; or it has not been for <see cref="MaxDeferrals"/>
    /// intervals since the churn made the compaction due (<paramref name="dueFor"/>), and pays the pause once. The
    /// compaction stops every thread, for 100–250 ms at 10,000 connections on 2 cores: while messages flow, that
    /// pause lands on them (performance.md, "Seventeenth session").
    /// </summary>
    internal static bool ShouldCompact(
        long sinceTrim, long recentChurn, long threshold, long recentMessages, long connections, TimeSpan sinceLastTrim, TimeSpan minInterval, TimeSpan dueFor)
    {
        var settled = sinceTrim >= threshold && recentChurn < threshold / 10 && sinceLastTrim >= minInterval;
        var quiet = recentMessages < Math.Max(1, connections);
        return settled && (quiet || dueFor >= MaxWait(minInterval));
    }

    /// <summary>
    /// How long a due compaction waits for a quiet period: <see cref="MaxDeferrals"/> intervals, counted as one period
    /// (5 s) at least, so a <see cref="MemoryOptions.MinInterval"/> of zero does not switch the wait off.
    /// </summary>
    internal static TimeSpan MaxWait(TimeSpan minInterval) => (minInterval > Period ? minInterval : Period) * MaxDeferrals;

    /// <summary>Client messages (TAPR pings included) and frames queued to this node's sockets, so far.</summary>
    private static long Messages(GatewayMetrics metrics) => metrics.Snapshot().MessagesIn + metrics.Delivered;

    private static partial class Log
    {
        [LoggerMessage(EventId = 710, Level = LogLevel.Information, Message = "Compacted the heap after {Churn} connects/disconnects: {BeforeMb} MB -> {AfterMb} MB")]
        public static partial void Compacted(ILogger logger, long churn, long beforeMb, long afterMb);
    }
}
