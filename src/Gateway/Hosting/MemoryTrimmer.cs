using System.Runtime;
using Microsoft.Extensions.Options;

namespace Gateway.Hosting;

/// <summary>
/// Compacts the managed heap once a burst of connects or disconnects has settled. Setting up a socket
/// spans several awaits, so its short-lived objects survive into older generations, where they stay as
/// garbage until a full collection, which an otherwise idle gateway may not run for a long time. One
/// compacting collection after the burst returns that memory; it runs at most once per
/// <see cref="MemoryOptions.MinInterval"/>, only after real churn, and only while messages are not flowing
/// (<see cref="ShouldCompact"/>).
/// </summary>
internal sealed partial class MemoryTrimmer(GatewayMetrics metrics, IOptions<GatewayOptions> options, ILogger<MemoryTrimmer> log) : BackgroundService
{
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var memory = options.Value.Memory;
        if (!memory.CompactAfterBursts)
        {
            return;
        }

        using var timer = new PeriodicTimer(Period);
        var lastChurn = metrics.Churn;
        var lastMessages = Messages(metrics.Snapshot());
        var churnAtLastTrim = lastChurn;
        var lastTrim = DateTimeOffset.MinValue;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                var churn = metrics.Churn;
                var recent = churn - lastChurn;
                lastChurn = churn;
                var messages = Messages(metrics.Snapshot());
                var recentMessages = messages - lastMessages;
                lastMessages = messages;
                var connections = metrics.ConnectionsCurrent;
                var sinceTrim = churn - churnAtLastTrim;
                if (ShouldCompact(sinceTrim, recent, Math.Max(memory.MinChurn, connections / 10), recentMessages, connections, DateTimeOffset.UtcNow - lastTrim, memory.MinInterval))
                {
                    var before = GC.GetTotalMemory(forceFullCollection: false);
                    GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
                    GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                    Log.Compacted(log, sinceTrim, before / 1024 / 1024, GC.GetTotalMemory(forceFullCollection: false) / 1024 / 1024);
                    churnAtLastTrim = churn;
                    lastTrim = DateTimeOffset.UtcNow;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Shutting down.
        }
    }

    /// <summary>
    /// Whether to compact now. A burst has settled: at least <paramref name="threshold"/> connects and disconnects since
    /// the last compaction (<paramref name="sinceTrim"/>), under a tenth of that in the last period
    /// (<paramref name="recentChurn"/>), and the last compaction at least <paramref name="minInterval"/> ago. And the
    /// gateway is quiet: fewer messages in and out in the last period (<paramref name="recentMessages"/>) than
    /// connections open. The compaction stops every thread, for 100–250 ms at 10,000 connections on 2 cores; while
    /// messages flow, that pause lands on them (a fan-out's p99 rose by half; performance.md, "Seventeenth session"), and
    /// a busy gateway runs collections of its own. Deferred, it runs in the first quiet period after the burst.
    /// </summary>
    internal static bool ShouldCompact(long sinceTrim, long recentChurn, long threshold, long recentMessages, long connections, TimeSpan sinceLastTrim, TimeSpan minInterval) =>
        sinceTrim >= threshold && recentChurn < threshold / 10 && sinceLastTrim >= minInterval && recentMessages < Math.Max(1, connections);

    private static long Messages(GatewayMetrics.Totals totals) => totals.MessagesIn + totals.MessagesOut;

    private static partial class Log
    {
        [LoggerMessage(EventId = 710, Level = LogLevel.Information, Message = "Compacted the heap after {Churn} connects/disconnects: {BeforeMb} MB -> {AfterMb} MB")]
        public static partial void Compacted(ILogger logger, long churn, long beforeMb, long afterMb);
    }
}
