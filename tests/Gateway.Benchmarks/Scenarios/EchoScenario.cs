using System.Text.Json.Nodes;
using Gateway.Benchmarks.Client;
using Gateway.Benchmarks.Orchestration;

namespace Gateway.Benchmarks.Scenarios;

/// <summary>
/// <c>echo</c>: N connections each send K messages (sequence number and timestamp), up to W in flight;
/// the app echoes each through the admin API to its <c>conn_id</c>. Round trips per second, round-trip
/// latency, and whether every connection got its echoes back complete and in order.
/// </summary>
internal static class EchoScenario
{
    public static Task<int> RunAsync(BenchmarkOptions options) =>
        PeerComparison.RunAsync("echo", options, (peer, logs) => RunOnceAsync(options, peer, logs));

    private static async Task<Report> RunOnceAsync(BenchmarkOptions options, string? peer, string logs)
    {
        var connections = options.Int("connections", 1000);
        var users = options.Int("users", 100);
        var messages = options.Int("messages", 300);
        var window = options.Int("window", 8);
        var payloadBytes = options.Int("payload-bytes", 0);
        var warmupMessages = options.Int("warmup-messages", 10);

        await using var bed = await Testbed.StartAsync(new TestbedSpec("echo", connections, users, "echo", Peer: peer), options, logs).ConfigureAwait(false);
        await bed.WarmUpAsync().ConfigureAwait(false);
        var connect = await bed.ConnectAsync().ConfigureAwait(false);
        if (warmupMessages > 0)
        {
            Progress.Write($"echo: warm-up, {warmupMessages} messages per connection");
            await bed.RunPhaseAsync(new ClientCommand { Cmd = "echo", Phase = 1, Messages = warmupMessages, Window = window, PayloadBytes = payloadBytes }).ConfigureAwait(false);
        }

        var appBefore = await bed.AppStatsAsync().ConfigureAwait(false);
        Progress.Write($"echo: {messages} messages per connection, {window} in flight");
        var metricsBefore = await bed.Gateway.MetricsAsync().ConfigureAwait(false);
        var cpuStart = bed.Cpu();
        var result = await bed.RunPhaseAsync(new ClientCommand { Cmd = "echo", Phase = 2, Messages = messages, Window = window, PayloadBytes = payloadBytes }).ConfigureAwait(false);
        var cpuEnd = bed.Cpu();
        var gc = GatewayServer.GcJson(metricsBefore, await bed.Gateway.MetricsAsync().ConfigureAwait(false), result.Received);
        var cpu = Testbed.CpuJson(cpuStart, cpuEnd);
        var app = await bed.AppStatsAsync().ConfigureAwait(false);
        var memory = await bed.GatewayMemoryAsync().ConfigureAwait(false);
        var roundTrips = result.Received / result.Seconds;
        Progress.Write($"echo: {result.Received} round trips, {roundTrips:N0}/s, p99 {result.Latency.Percentile(99) / 1000.0:F1} ms");

        var orderHeld = result.OutOfOrder == 0 && result.Missing == 0 && result.Lost == 0 && !result.TimedOut;
        var report = new Report("echo", options, new JsonObject
        {
            ["connections"] = connections,
            ["users"] = users,
            ["messages"] = messages,
            ["window"] = window,
            ["payloadBytes"] = payloadBytes,
            ["clientProcesses"] = bed.Clients.Count,
            ["gatewaySettings"] = Report.Counts(bed.GatewaySettings),
            ["gatewayBuild"] = bed.GatewayBuild?.DeepClone(),
        }, peer);
        report["connect"] = new JsonObject { ["opened"] = connect.Opened, ["failed"] = connect.Failed, ["errors"] = Report.Counts(connect.Errors) };
        report["echo"] = new JsonObject
        {
            ["connections"] = result.Connections,
            ["sent"] = result.Sent,
            ["roundTrips"] = result.Received,
            ["seconds"] = Report.Round(result.Seconds, 3),
            ["roundTripsPerSec"] = Report.Round(roundTrips),
            ["latency"] = Report.Latency(result.Latency),
            ["gatewayGc"] = gc,
            ["order"] = new JsonObject
            {
                ["held"] = orderHeld,
                ["complete"] = result.Complete,
                ["outOfOrder"] = result.OutOfOrder,
                ["missing"] = result.Missing,
                ["lost"] = result.Lost,
                ["timedOut"] = result.TimedOut,
            },
            ["app"] = new JsonObject
            {
                ["messageCallbacks"] = app.Message - appBefore.Message,
                ["echoed"] = app.Echoed - appBefore.Echoed,
                ["echoFailed"] = app.EchoFailed - appBefore.EchoFailed,
                ["notEnqueued"] = app.NotEnqueued - appBefore.NotEnqueued,
            },
            ["serverCloses"] = Report.Counts(result.ServerCloses),
            ["cpuCores"] = cpu,
        };
        report["gatewayMemory"] = memory;
        report.Target("roundTripsPerSec", ">= 10000", Report.Round(roundTrips), roundTrips >= 10_000);
        report.Target("orderHeld", "every echo back, in order", orderHeld, orderHeld);
        report.Compare("roundTripsPerSec", roundTrips);
        report.Compare("cpuUsPerRoundTrip", result.Received > 0 ? Testbed.ServerCpuSeconds(cpuStart, cpuEnd) * 1e6 / result.Received : 0);
        report.Correct = orderHeld;
        report.Emit();
        return report;
    }
}
