using System.Text.Json.Nodes;
using Gateway.Benchmarks.Measurement;
using Gateway.Benchmarks.Orchestration;

namespace Gateway.Benchmarks.Scenarios;

/// <summary>
/// <c>idle</c>: N connections over U users opened as fast as the client processes can, held for H
/// seconds with a JSON ping every P seconds per connection. Connect rate, handshake latency, failures,
/// the gateway's RSS and managed heap before and after (and per connection), pongs against pings, and the server's
/// CPU for the burst (until the clients hold every connection, and until the app has heard every <c>open</c>) and
/// for the hold once the app has heard them all (what idle connections cost).
/// </summary>
internal static class IdleScenario
{
    public static Task<int> RunAsync(BenchmarkOptions options) =>
        PeerComparison.RunAsync("idle", options, (peer, logs) => RunOnceAsync(options, peer, logs));

    private static async Task<Report> RunOnceAsync(BenchmarkOptions options, string? peer, string logs)
    {
        var connections = options.Int("connections", 15_000);
        var users = options.Int("users", 100);
        var holdSeconds = options.Double("hold-seconds", 60);
        var pingSeconds = options.Double("ping-seconds", 30);

        await using var bed = await Testbed.StartAsync(new TestbedSpec("idle", connections, users, "record", Peer: peer), options, logs).ConfigureAwait(false);
        await bed.WarmUpAsync().ConfigureAwait(false);
        var gatewayPid = bed.Gateway.Pid;
        var rssBefore = ProcessStats.RssBytes(gatewayPid) ?? 0;
        var metricsBefore = await bed.Gateway.MetricsAsync().ConfigureAwait(false);
        var opensBefore = (await bed.AppStatsAsync().ConfigureAwait(false)).Open;

        var cpuStart = bed.Cpu();
        var connect = await bed.ConnectAsync().ConfigureAwait(false);
        var cpuConnected = bed.Cpu();
        var rssConnected = ProcessStats.RssBytes(gatewayPid) ?? 0;
        var metricsConnected = await bed.Gateway.MetricsAsync().ConfigureAwait(false);

        await using var sampler = new RssSampler(gatewayPid, TimeSpan.FromMilliseconds(250));
        Progress.Write($"idle: holding {connect.Opened} connections for {holdSeconds} s (a ping every {pingSeconds} s each)");

        // The server may still be telling the app about the connects: that is the burst's work, not the hold's.
        var opensHeard = await bed.WaitForAppOpensAsync(opensBefore + connect.Opened).ConfigureAwait(false) - opensBefore;
        var cpuOpensHeard = bed.Cpu();
        var allOpensHeard = opensHeard >= connect.Opened;
        if (!allOpensHeard)
        {
            Progress.Write($"idle: the app heard {opensHeard} opens of {connect.Opened} before the wait timed out: no figures after the opens");
        }

        var holdLeft = TimeSpan.FromSeconds(holdSeconds) - System.Diagnostics.Stopwatch.GetElapsedTime(cpuConnected.Timestamp);
        if (holdLeft > TimeSpan.Zero)
        {
            await Task.Delay(holdLeft).ConfigureAwait(false);
        }

        var stats = await bed.StatsAsync(quiesce: true).ConfigureAwait(false);
        var cpuHeld = bed.Cpu();
        var rssAfter = ProcessStats.RssBytes(gatewayPid) ?? 0;
        var metricsAfter = await bed.Gateway.MetricsAsync().ConfigureAwait(false);
        var app = await bed.AppStatsAsync().ConfigureAwait(false);

        var open = stats.Sum(s => s.Open);
        var pings = stats.Sum(s => s.PingsSent);
        var pongs = stats.Sum(s => s.PongsReceived);
        var closes = new Dictionary<string, int>();
        foreach (var (code, count) in stats.SelectMany(s => s.ServerCloses ?? []))
        {
            closes[code] = closes.GetValueOrDefault(code) + count;
        }

        var failures = connect.Failed + (connect.Opened - open);
        var connectRate = connect.Opened / connect.Seconds;
        // The runtime's own meter: the heap (all generations) as the last collection left it.
        var heapBefore = metricsBefore.GetValueOrDefault(GatewayServer.HeapAfterLastCollection);
        var heapAfter = metricsAfter.GetValueOrDefault(GatewayServer.HeapAfterLastCollection);
        var rssPerConnection = open > 0 ? (rssAfter - rssBefore) / (double)open : 0;
        var rssPerConnectionConnected = connect.Opened > 0 ? (rssConnected - rssBefore) / (double)connect.Opened : 0;
        var gatewayConnectCores = cpuConnected.CoresSince(cpuStart).FirstOrDefault(c => c.Name == "gateway").Cores;
        var connectWall = System.Diagnostics.Stopwatch.GetElapsedTime(cpuStart.Timestamp, cpuConnected.Timestamp).TotalSeconds;
        var gatewayCpuPerConnection = connect.Opened > 0 ? gatewayConnectCores * connectWall / connect.Opened : 0;
        var heapPerConnection = open > 0 ? (heapAfter - heapBefore) / open : 0;

        // Managed bytes allocated during the burst, per connect: the GC's work behind the connect CPU (gateway only;
        // the peers export no runtime metrics).
        double? allocatedPerConnect = metricsBefore.ContainsKey(GatewayServer.HeapAllocated) && connect.Opened > 0
            ? (metricsConnected.GetValueOrDefault(GatewayServer.HeapAllocated) - metricsBefore[GatewayServer.HeapAllocated]) / connect.Opened
            : null;

        var report = new Report("idle", options, new JsonObject
        {
            ["connections"] = connections,
            ["users"] = users,
            ["holdSeconds"] = holdSeconds,
            ["pingSeconds"] = pingSeconds,
            ["clientProcesses"] = bed.Clients.Count,
            ["connectConcurrencyPerProcess"] = options.Int("connect-concurrency", 128),
            ["gatewaySettings"] = Report.Counts(bed.GatewaySettings),
            ["gatewayBuild"] = bed.GatewayBuild?.DeepClone(),
        }, peer);
        report["connect"] = new JsonObject
        {
            ["opened"] = connect.Opened,
            ["failed"] = connect.Failed,
            ["errors"] = Report.Counts(connect.Errors),
            ["seconds"] = Report.Round(connect.Seconds, 3),
            ["connectionsPerSec"] = Report.Round(connectRate),
            ["handshake"] = Report.Latency(connect.Handshake),
        };
        report["held"] = new JsonObject
        {
            ["open"] = open,
            ["gatewayConnections"] = metricsAfter.GetValueOrDefault("gateway_connection_active"),
            ["serverCloses"] = Report.Counts(closes),
            ["pingsSent"] = pings,
            ["pongsReceived"] = pongs,
            ["appCallbacks"] = new JsonObject { ["open"] = app.Open, ["message"] = app.Message, ["close"] = app.Close },
        };
        report["gatewayMemory"] = new JsonObject
        {
            ["rssBeforeBytes"] = rssBefore,
            ["rssConnectedBytes"] = rssConnected,
            ["rssPerConnectionConnectedBytes"] = Report.Round(rssPerConnectionConnected),
            ["rssAfterBytes"] = rssAfter,
            ["rssPeakBytes"] = sampler.Peak,
            ["rssPerConnectionBytes"] = Report.Round(rssPerConnection),
            ["heapBeforeBytes"] = heapBefore,
            ["heapAfterBytes"] = heapAfter,
            ["heapPerConnectionBytes"] = Report.Round(heapPerConnection),
            ["gen2Collections"] = metricsAfter.GetValueOrDefault(GatewayServer.FullCollections),
            ["allocatedPerConnectBytes"] = allocatedPerConnect is { } bytes ? Report.Round(bytes) : null,
        };
        report["cpuCores"] = new JsonObject
        {
            ["connect"] = Testbed.CpuJson(cpuStart, cpuConnected),
            ["gatewayConnectCpuMicrosecondsPerConnection"] = Report.Round(gatewayCpuPerConnection * 1e6),
            ["untilOpensHeard"] = Testbed.CpuJson(cpuConnected, cpuOpensHeard),
            ["opensHeard"] = opensHeard,
            ["hold"] = Testbed.CpuJson(cpuConnected, cpuHeld),
            ["holdAfterOpensHeard"] = Testbed.CpuJson(cpuOpensHeard, cpuHeld),
        };
        report.Target("held", $"== {connections}", open, open == connections);
        report.Target("failures", "== 0", failures, failures == 0);
        report.Target("rssPerConnectionBytes", "<= 12288", Report.Round(rssPerConnection), rssPerConnection <= 12 * 1024);
        report.Target("connectsPerSec", ">= 3000", Report.Round(connectRate), connectRate >= 3000);
        report.Target("pongsMissing", "pongs == pings", pings - pongs, pongs == pings);
        report.Compare("connectCpuUsPerConnection", connect.Opened > 0 ? Testbed.ServerCpuSeconds(cpuStart, cpuConnected) * 1e6 / connect.Opened : 0);
        report.Compare("rssPerConnectionAfterBurstBytes", rssPerConnectionConnected);
        report.Compare("rssPerConnectionAfterHoldBytes", rssPerConnection);

        // Only when the app heard every open: a timed-out wait would count idle time as the burst's, and leave no hold.
        report.Target("opensHeard", $"== {connect.Opened}", opensHeard, allOpensHeard);
        var holdWall = System.Diagnostics.Stopwatch.GetElapsedTime(cpuOpensHeard.Timestamp, cpuHeld.Timestamp).TotalSeconds;
        if (allOpensHeard && connect.Opened > 0)
        {
            report.Compare("connectCpuUsPerConnectionWithOpens", Testbed.ServerCpuSeconds(cpuStart, cpuOpensHeard) * 1e6 / connect.Opened);

            // What holding idle connections costs, in cores, from when the app heard every open to the end of the hold
            // (cpuCores.holdAfterOpensHeard): for the gateway this includes the compaction and the tier-1 compiles that
            // follow a burst, which a short hold does not dilute. CPU is read in 10 ms ticks: over 10 s, 0.001 is one tick.
            if (holdWall >= 1)
            {
                report.Compare("holdCpuCoresAfterOpens", Testbed.ServerCpuSeconds(cpuOpensHeard, cpuHeld) / holdWall);
            }
        }

        report.Correct = open == connections && failures == 0 && pongs == pings;
        report.Emit();
        return report;
    }
}
