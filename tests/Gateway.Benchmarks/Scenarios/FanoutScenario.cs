using System.Text.Json.Nodes;
using Gateway.Benchmarks.Orchestration;

namespace Gateway.Benchmarks.Scenarios;

/// <summary>
/// <c>fanout</c>: N connections over U users; M admin sends, each to every user by default. Without
/// <c>--rate</c> it runs at full speed to find the top delivery rate, then again at half that rate for
/// the latency target (unless <c>--half false</c>); with <c>--rate R</c> it runs once at R sends/s.
/// Clients check every connection got every message exactly once.
/// </summary>
internal static class FanoutScenario
{
    public static Task<int> RunAsync(BenchmarkOptions options, string name = "fanout", int defaultNodes = 1)
    {
        if (name == "cluster" && Peers.FromOptions(options).Count > 0)
        {
            throw new ArgumentException("--peer goes with idle, fanout and echo, not cluster");
        }

        return PeerComparison.RunAsync(name, options, (peer, logs) => RunOnceAsync(options, name, defaultNodes, peer, logs));
    }

    private static async Task<Report> RunOnceAsync(BenchmarkOptions options, string name, int defaultNodes, string? peer, string logs)
    {
        var nodes = options.Int("nodes", defaultNodes);
        var connections = options.Int("connections", 10_000);
        var users = options.Int("users", 100);
        var messages = options.Int("messages", 200);
        var target = options.String("target", "all");
        var usersPerSend = options.Int("users-per-send", 1);
        var rate = options.Double("rate", 0);
        var concurrency = options.Int("concurrency", 16);
        var payloadBytes = options.Int("payload-bytes", 0);
        var half = rate <= 0 && options.Flag("half", true);
        var warmupMessages = options.Int("warmup-messages", 20);
        if (target is not ("all" or "users"))
        {
            throw new ArgumentException("--target is all or users");
        }

        if (usersPerSend < 1 || users % usersPerSend != 0 || (usersPerSend > 1 && target != "users"))
        {
            throw new ArgumentException("--users-per-send goes with --target users and divides --users");
        }

        await FanoutDriver.WarmUpDriverAsync(options, target, users, usersPerSend, concurrency, payloadBytes).ConfigureAwait(false);
        await using var bed = await Testbed.StartAsync(new TestbedSpec(name, connections, users, "record", Nodes: nodes, Peer: peer), options, logs).ConfigureAwait(false);
        await bed.WarmUpAsync().ConfigureAwait(false);
        var waitForOpens = options.Flag("cold-after-opens", true);
        var opensBefore = waitForOpens ? (await bed.AppStatsAsync().ConfigureAwait(false)).Open : 0;
        var connect = await bed.ConnectAsync().ConfigureAwait(false);
        // The warm-up phase is the first sends the server ever handles: its rate is the cold figure.
        double? coldDeliveredPerSec = null;
        PhaseResult? cold = null;
        JsonObject? coldCpu = null;
        JsonObject? coldGc = null;
        long? opensHeard = null;
        if (warmupMessages > 0)
        {
            if (waitForOpens)
            {
                // Not while the server still tells the app about the connects: that would time the end of the connect
                // burst, not the first sends.
                opensHeard = await bed.WaitForAppOpensAsync(opensBefore + connect.Opened).ConfigureAwait(false) - opensBefore;
            }

            var metricsBefore = await bed.Gateway.MetricsAsync().ConfigureAwait(false);
            (cold, _, coldCpu) = await FanoutDriver.RunPhaseAsync(bed, 1, warmupMessages, target, 0, concurrency, payloadBytes, usersPerSend).ConfigureAwait(false);
            coldGc = GatewayServer.GcJson(metricsBefore, await bed.Gateway.MetricsAsync().ConfigureAwait(false), cold!.Received);
            coldDeliveredPerSec = cold!.Received / cold.Seconds;
        }

        var report = new Report(name, options, new JsonObject
        {
            ["nodes"] = nodes,
            ["connections"] = connections,
            ["users"] = users,
            ["messages"] = messages,
            ["target"] = target,
            ["usersPerSend"] = target == "users" ? usersPerSend : users,
            ["rate"] = rate > 0 ? rate : "full speed",
            ["concurrency"] = concurrency,
            ["payloadBytes"] = payloadBytes,
            ["driverWarmUpSends"] = FanoutDriver.DriverWarmUpSends(options),
            ["clientProcesses"] = bed.Clients.Count,
            ["gatewaySettings"] = Report.Counts(bed.GatewaySettings),
            ["gatewayBuild"] = bed.GatewayBuild?.DeepClone(),
        }, peer);
        report["connect"] = new JsonObject { ["opened"] = connect.Opened, ["failed"] = connect.Failed, ["errors"] = Report.Counts(connect.Errors) };
        report["gatewayMemoryConnected"] = await bed.GatewayMemoryAsync().ConfigureAwait(false);

        var deliveriesPerSend = FanoutDriver.DeliveriesPerSend(connect.Opened, users, target, usersPerSend);
        var first = await PhaseAsync(bed, report, rate > 0 ? "fixedRate" : "fullSpeed", 2, messages, target, rate, concurrency, payloadBytes, usersPerSend).ConfigureAwait(false);
        report.Compare("deliveredPerSec", first.DeliveredPerSec);
        report.Compare("cpuUsPerDelivered", first.CpuUsPerDelivered);
        if (coldDeliveredPerSec is { } coldRate)
        {
            report["cold"] = new JsonObject
            {
                ["messages"] = warmupMessages,
                ["deliveredPerSec"] = Report.Round(coldRate),
                ["overWarm"] = Report.Round(coldRate / first.DeliveredPerSec, 3),
                ["opensHeardBefore"] = opensHeard,
                ["latency"] = Report.Latency(cold!.Latency),
                ["cpuCores"] = coldCpu,
                ["gatewayGc"] = coldGc,
            };
            report.Compare("coldDeliveredPerSec", coldRate);
            report.Compare("coldOverWarm", coldRate / first.DeliveredPerSec);
        }
        if (rate <= 0)
        {
            report.Target("deliveredPerSec", ">= 200000", Report.Round(first.DeliveredPerSec), first.DeliveredPerSec >= 200_000);
        }
        else
        {
            report.Target("p99Ms", "<= 50 (when run at half the top rate or below)", Report.Ms(first.P99), first.P99 <= 50_000);
        }

        if (half)
        {
            var halfRate = first.DeliveredPerSec / deliveriesPerSend / 2;
            var second = await PhaseAsync(bed, report, "halfRate", 3, messages, target, halfRate, concurrency, payloadBytes, usersPerSend).ConfigureAwait(false);
            report.Target("p99MsAtHalfRate", "<= 50", Report.Ms(second.P99), second.P99 <= 50_000);
            report.Target("exactlyOnce", "no duplicates, gaps or strays; every receipt enqueued all", first.ExactlyOnce && second.ExactlyOnce, first.ExactlyOnce && second.ExactlyOnce);
            report.Correct = first.ExactlyOnce && second.ExactlyOnce;
        }
        else
        {
            report.Target("exactlyOnce", "no duplicates, gaps or strays; every receipt enqueued all", first.ExactlyOnce, first.ExactlyOnce);
            report.Correct = first.ExactlyOnce;
        }

        report["gatewayMemoryAfter"] = await bed.GatewayMemoryAsync().ConfigureAwait(false);
        report.Emit();
        return report;
    }

    private static async Task<(double DeliveredPerSec, long P99, bool ExactlyOnce, double CpuUsPerDelivered)> PhaseAsync(
        Testbed bed, Report report, string name, int phase, int messages, string target, double rate, int concurrency, int payloadBytes, int usersPerSend)
    {
        const string Broadcast = "gateway_cluster_peer_messages_total|gateway_cluster_routing=broadcast";
        const string Routed = "gateway_cluster_peer_messages_total|gateway_cluster_routing=routed";
        var before = await bed.Gateway.MetricsAsync().ConfigureAwait(false);
        var (result, sends, cpu) = await FanoutDriver.RunPhaseAsync(bed, phase, messages, target, rate, concurrency, payloadBytes, usersPerSend).ConfigureAwait(false);
        var after = await bed.Gateway.MetricsAsync().ConfigureAwait(false);
        var broadcastMessages = after.GetValueOrDefault(Broadcast) - before.GetValueOrDefault(Broadcast);
        var routedMessages = after.GetValueOrDefault(Routed) - before.GetValueOrDefault(Routed);
        var deliveredPerSec = result.Received / result.Seconds;
        // What the connections taking part expect in all (distinct receipts plus gaps); the gateway's receipts must say the same.
        var expected = result.Received + result.Missing;
        var exactlyOnce = result.Duplicates == 0 && result.Missing == 0 && result.Unexpected == 0 && result.Lost == 0 && !result.TimedOut
            && sends.Failed == 0 && sends.Dropped == 0 && sends.Enqueued == expected && sends.Matched == expected;
        report[name] = new JsonObject
        {
            ["rate"] = rate > 0 ? Report.Round(rate, 2) : "full speed",
            ["send"] = FanoutDriver.SendJson(sends),
            ["connections"] = result.Connections,
            ["expectedDeliveries"] = expected,
            ["delivered"] = result.Received,
            ["seconds"] = Report.Round(result.Seconds, 3),
            ["deliveredPerSec"] = Report.Round(deliveredPerSec),
            ["latency"] = Report.Latency(result.Latency),
            ["exactlyOnce"] = new JsonObject
            {
                ["ok"] = exactlyOnce,
                ["complete"] = result.Complete,
                ["duplicates"] = result.Duplicates,
                ["missing"] = result.Missing,
                ["unexpected"] = result.Unexpected,
                ["lost"] = result.Lost,
                ["timedOut"] = result.TimedOut,
            },
            ["serverCloses"] = Report.Counts(result.ServerCloses),
            ["cpuCores"] = cpu,
            ["gatewayGc"] = GatewayServer.GcJson(before, after, result.Received),
            ["peerMessagesPerSend"] = new JsonObject
            {
                ["broadcast"] = sends.Sends > 0 ? Report.Round(broadcastMessages / sends.Sends, 2) : 0,
                ["routed"] = sends.Sends > 0 ? Report.Round(routedMessages / sends.Sends, 2) : 0,
            },
        };
        var cpuUsPerDelivered = result.Received > 0 ? cpu["serverCpuSeconds"]!.GetValue<double>() * 1e6 / result.Received : 0;
        return (deliveredPerSec, result.Latency.Percentile(99), exactlyOnce, cpuUsPerDelivered);
    }
}
