using System.Runtime;
using Microsoft.Extensions.Options;

namespace Gateway.Hosting;

/// <summary>
/// Compacts the managed heap once a burst of connects or disconnects has settled. Setting up a socket
/// spans several awaits, so its short-lived objects survive into older generations, where they stay as
/// garbage until a full collection, which an otherwise idle gateway may not run for a long time. One
/// compacting collection after the burst returns that memory; it runs at most once per
/// <see cref="MemoryOptions.MinInterval"/> and only after real churn.
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
        var churnAtLastTrim = lastChurn;
        var lastTrim = DateTimeOffset.MinValue;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                var churn = metrics.Churn;
                var recent = churn - lastChurn;
                lastChurn = churn;
                var sinceTrim = churn - churnAtLastTrim;
                var threshold = Math.Max(memory.MinChurn, metrics.ConnectionsCurrent / 10);

                // A burst that has settled: much churn since the last compaction, little in the last period.
                if (sinceTrim >= threshold && recent < threshold / 10 && DateTimeOffset.UtcNow - lastTrim >= memory.MinInterval)
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

    private static partial class Log
    {
        [LoggerMessage(EventId = 710, Level = LogLevel.Information, Message = "Compacted the heap after {Churn} connects/disconnects: {BeforeMb} MB -> {AfterMb} MB")]
        public static partial void Compacted(ILogger logger, long churn, long beforeMb, long afterMb);
    }
}
