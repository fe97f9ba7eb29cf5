using System.Globalization;
using System.Text.Json.Nodes;
using Gateway.Benchmarks.Client;
using Gateway.Benchmarks.Measurement;
using Gateway.Benchmarks.Orchestration;

namespace Gateway.Benchmarks.Scenarios;

/// <summary>
/// <c>slow</c>: the fan-out at a fixed rate twice, each on a fresh gateway: once without the share S of
/// slow clients (the baseline: only the healthy ones connect), once with them, connected but never
/// reading after the handshake. The
/// healthy clients' p99 in both, how many slow clients the gateway closed (4001, per its
/// <c>gateway_connection_slow_consumer_total</c>), and the gateway's peak RSS (VmHWM, and VmRSS sampled).
/// Small outbound bounds are set unless given (<c>--gateway-env Gateway__Limits__OutboundQueueBytes=...</c>).
/// </summary>
internal static class SlowScenario
{
    private const string QueueBytesKey = "Gateway__Limits__OutboundQueueBytes";
    private const string QueueMessagesKey = "Gateway__Limits__OutboundQueueMessages";

    public static async Task<int> RunAsync(BenchmarkOptions options)
    {
        var connections = options.Int("connections", 10_000);
        var users = options.Int("users", 100);
        var messages = options.Int("messages", 200);
        var share = options.Double("share", 0.1);
        var rate = options.Double("rate", 10);
        var concurrency = options.Int("concurrency", 4);
        var payloadBytes = options.Int("payload-bytes", 1024);
        var warmupMessages = options.Int("warmup-messages", 20);
        var defaults = new Dictionary<string, string>
        {
            [QueueBytesKey] = options.String("queue-bytes", "32768"),
            [QueueMessagesKey] = options.String("queue-messages", "4096"),
        };
        var logs = Testbed.LogDirectory(options);

        // Alternate baseline and slow runs: with --repeat N the comparison is between medians, which
        // smooths the run-to-run noise of a p99 on a small shared machine.
        var repeat = Math.Max(1, options.Int("repeat", 1));
        var baselines = new List<RunResult>();
        var withSlow = new List<RunResult>();
        for (var i = 0; i < repeat; i++)
        {
            var suffix = repeat > 1 ? FormattableString.Invariant($"-{i + 1}") : "";
            baselines.Add(await RunOnceAsync("slow-baseline" + suffix, share, slowAbsent: true, connections, users, messages, rate, concurrency, payloadBytes, warmupMessages, defaults, options, logs).ConfigureAwait(false));
            withSlow.Add(await RunOnceAsync("slow" + suffix, share, slowAbsent: false, connections, users, messages, rate, concurrency, payloadBytes, warmupMessages, defaults, options, logs).ConfigureAwait(false));
        }

        var slowClients = Enumerable.Range(0, connections).Count(i => ClientProtocol.IsSlow(i, share));
        var queueBytes = long.Parse(withSlow[0].Settings.GetValueOrDefault(QueueBytesKey, "4194304"), CultureInfo.InvariantCulture);
        var baselineP99 = Median(baselines.Select(r => (double)r.Phase.Latency.Percentile(99)));
        var slowP99 = Median(withSlow.Select(r => (double)r.Phase.Latency.Percentile(99)));
        var ratio = baselineP99 > 0 ? slowP99 / baselineP99 : double.NaN;
        var rssGrowth = (long)Median(baselines.Zip(withSlow, (b, w) => (double)(w.PeakRss - b.PeakRss)));
        var slowClosed = withSlow.Min(r => r.SlowClosed);
        var exactlyOnce = baselines.Concat(withSlow).All(r => r.ExactlyOnce);

        // What the slow clients may cost: their queues at the bound, plus what any held connection costs (the idle target, 12 KiB).
        var rssBound = slowClients * (queueBytes + (12 * 1024));

        var report = new Report("slow", options, new JsonObject
        {
            ["connections"] = connections,
            ["users"] = users,
            ["messages"] = messages,
            ["slowShare"] = share,
            ["slowClients"] = slowClients,
            ["rate"] = rate,
            ["payloadBytes"] = payloadBytes,
            ["driverWarmUpSends"] = FanoutDriver.DriverWarmUpSends(options),
            ["slowReceiveBuffer"] = options.Int("slow-rcvbuf", 2048),
            ["slowMaxSegment"] = options.Int("slow-mss", 536),
            ["clientProcesses"] = withSlow[0].ClientProcesses,
            ["repeat"] = repeat,
            ["gatewaySettings"] = Report.Counts(withSlow[0].Settings),
        });
        report["baseline"] = new JsonArray([.. baselines.Select(r => (JsonNode)r.Json)]);
        report["withSlow"] = new JsonArray([.. withSlow.Select(r => (JsonNode)r.Json)]);
        report["healthyP99Ms"] = new JsonObject
        {
            ["baseline"] = new JsonArray([.. baselines.Select(r => (JsonNode)Report.Ms(r.Phase.Latency.Percentile(99)))]),
            ["withSlow"] = new JsonArray([.. withSlow.Select(r => (JsonNode)Report.Ms(r.Phase.Latency.Percentile(99)))]),
            ["baselineMedian"] = Report.Ms((long)baselineP99),
            ["withSlowMedian"] = Report.Ms((long)slowP99),
        };
        report["healthyP99Ratio"] = Report.Round(ratio, 3);
        report["rssGrowthBytes"] = rssGrowth;
        report["rssGrowthPerSlowClientBytes"] = slowClients > 0 ? Report.Round(rssGrowth / (double)slowClients) : 0;
        report["rssBoundBytes"] = rssBound;

        // Slow clients must not hurt the healthy ones: a p99 that rises by 20 % or more fails; one that
        // falls (run-to-run noise on a shared machine can be that large) does not.
        report.Target("healthyP99Increase", "< 20 % (a decrease is not a failure)", Report.Round((ratio - 1) * 100, 1), ratio < 1.2);
        report.Target("slowClosed", $"== {slowClients} (4001) in every run", slowClosed, slowClosed == slowClients);
        report.Target("rssWithinQueueBounds", $"peak RSS growth over the baseline <= slow clients x ({queueBytes} + 12288) B = {rssBound} B", rssGrowth, rssGrowth <= rssBound);
        report.Target("healthyExactlyOnce", "every run", exactlyOnce, exactlyOnce);
        report.Emit();
        return 0;
    }

    private static async Task<RunResult> RunOnceAsync(
        string name, double share, bool slowAbsent, int connections, int users, int messages, double rate, int concurrency, int payloadBytes, int warmupMessages,
        Dictionary<string, string> defaults, BenchmarkOptions options, string logs)
    {
        await FanoutDriver.WarmUpDriverAsync(options, "all", users, 1, concurrency, payloadBytes).ConfigureAwait(false);
        await using var bed = await Testbed.StartAsync(new TestbedSpec(name, connections, users, "record", share, slowAbsent, defaults), options, logs).ConfigureAwait(false);
        await bed.WarmUpAsync().ConfigureAwait(false);
        var rssBefore = ProcessStats.RssBytes(bed.Gateway.Pid) ?? 0;
        var connect = await bed.ConnectAsync().ConfigureAwait(false);
        if (warmupMessages > 0)
        {
            // Healthy clients only are waited for; the slow ones start filling their queues here already.
            await FanoutDriver.RunPhaseAsync(bed, 1, warmupMessages, "all", rate, concurrency, payloadBytes).ConfigureAwait(false);
        }

        var rssConnected = ProcessStats.RssBytes(bed.Gateway.Pid) ?? 0;
        PhaseResult phase;
        SendResult sends;
        JsonObject cpu;
        long sampledPeak;
        await using (var sampler = new RssSampler(bed.Gateway.Pid, TimeSpan.FromMilliseconds(100)))
        {
            (phase, sends, cpu) = await FanoutDriver.RunPhaseAsync(bed, 2, messages, "all", rate, concurrency, payloadBytes).ConfigureAwait(false);
            sampledPeak = sampler.Peak;
        }

        var metricsAtEnd = await bed.Gateway.MetricsAsync().ConfigureAwait(false);

        // A client closed with 4001 never answers the close frame: the gateway drops it at its close deadline (5-6 s
        // by default).
        await Task.Delay(TimeSpan.FromSeconds(options.Double("close-settle-seconds", 7))).ConfigureAwait(false);
        var metrics = await bed.Gateway.MetricsAsync().ConfigureAwait(false);
        // VmHWM and the sampled VmRSS come from counters the kernel updates lazily: take the larger.
        var peak = Math.Max(ProcessStats.PeakRssBytes(bed.Gateway.Pid) ?? 0, sampledPeak);
        var slowClosed = (long)metrics.GetValueOrDefault("gateway_connection_slow_consumer_total");
        var exactlyOnce = phase.Duplicates == 0 && phase.Missing == 0 && phase.Unexpected == 0 && phase.Lost == 0 && !phase.TimedOut;
        var json = new JsonObject
        {
            ["connect"] = new JsonObject { ["opened"] = connect.Opened, ["failed"] = connect.Failed, ["errors"] = Report.Counts(connect.Errors) },
            ["send"] = FanoutDriver.SendJson(sends),
            ["healthyConnections"] = phase.Connections,
            ["delivered"] = phase.Received,
            ["deliveredPerSec"] = Report.Round(phase.Received / phase.Seconds),
            ["healthyLatency"] = Report.Latency(phase.Latency),
            ["worstSends"] = WorstSends(phase.WorstBySend, rate, 8),
            ["exactlyOnce"] = new JsonObject
            {
                ["ok"] = exactlyOnce,
                ["duplicates"] = phase.Duplicates,
                ["missing"] = phase.Missing,
                ["unexpected"] = phase.Unexpected,
                ["lost"] = phase.Lost,
            },
            ["slowClosedByGateway"] = slowClosed,
            ["gatewayConnectionsAtEnd"] = metricsAtEnd.GetValueOrDefault("gateway_connection_active"),
            ["gatewayConnectionsAfterSettle"] = metrics.GetValueOrDefault("gateway_connection_active"),
            ["gatewayConnectionsClosedTotal"] = metrics.GetValueOrDefault("gateway_connection_closed_total"),
            ["gatewayMemory"] = new JsonObject
            {
                ["rssBeforeBytes"] = rssBefore,
                ["rssConnectedBytes"] = rssConnected,
                ["rssSampledPeakBytes"] = sampledPeak,
                ["rssPeakBytes"] = peak,
                ["heapAfterBytes"] = metrics.GetValueOrDefault(GatewayServer.HeapAfterLastCollection),
            },
            ["cpuCores"] = cpu,
        };
        return new RunResult(phase, json, slowClosed, peak, exactlyOnce, new Dictionary<string, string>(bed.GatewaySettings), bed.Clients.Count);
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? 0 : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private sealed record RunResult(PhaseResult Phase, JsonObject Json, long SlowClosed, long PeakRss, bool ExactlyOnce, Dictionary<string, string> Settings, int ClientProcesses);

    /// <summary>
    /// The <paramref name="count"/> sends whose slowest delivery took longest, worst first, as
    /// <c>{"send": sequence, "atSeconds": when it left in the phase, "ms": latency}</c>, sends leaving at
    /// <paramref name="rate"/> per second (null at full speed).
    /// </summary>
    private static JsonArray WorstSends(long[] worstBySend, double rate, int count) =>
        [.. worstBySend
            .Select((micros, send) => (micros, send))
            .OrderByDescending(s => s.micros)
            .Take(count)
            .Select(s => (JsonNode)new JsonObject
            {
                ["send"] = s.send,
                ["atSeconds"] = rate > 0 ? Report.Round(s.send / rate, 1) : null, // at full speed, unknown
                ["ms"] = Report.Round(s.micros / 1000.0, 1),
            })];
}
