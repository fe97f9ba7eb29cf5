using System.Globalization;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Cluster;

/// <summary>
/// Issue 11, discovery without seed nodes: the seeds are what a DNS name resolves to (the mode meant for a headless
/// Service). On loopback the name is <c>localhost</c> (127.0.0.1 only), so the first node is the one pod it resolves
/// to and forms the cluster; a second node on 127.0.0.2 (same remoting port, as every pod has) finds it through
/// that name and joins.
/// </summary>
public sealed class ClusterDnsDiscoverySpecs(ITestOutputHelper output)
{
    [Fact]
    public async Task Nodes_without_seed_nodes_find_each_other_through_dns_and_form_one_cluster()
    {
        var remoting = GatewayProcess.GetFreePort();
        await using var app1 = await AppServer.StartAsync();
        await using var app2 = await AppServer.StartAsync();
        await using var first = await GatewayProcess.StartAsync(Options(app1, "127.0.0.1", remoting));
        await using var second = await GatewayProcess.StartAsync(Options(app2, "127.0.0.2", remoting));
        try
        {
            await Wait.UntilAsync(
                async () => await ReachableAsync(first) == 2 && await ReachableAsync(second) == 2,
                TestTimeouts.Long,
                "both nodes to be Up in one cluster");

            // One cluster: a send on the first node reaches a socket of the second.
            await using var client = await WsClient.ConnectAsync(second.WebSocketUri(), "booted");
            await app2.WaitForOpenAsync("booted");
            var send = await first.Admin.SendAsync("{\"users\":[\"booted\"],\"payload\":1}");
            Assert.Contains("\"matched\":1,", send.Text, StringComparison.Ordinal);
            Assert.Equal("1", await client.ReceiveTextAsync());
        }
        finally
        {
            first.DumpOutput(output);
            second.DumpOutput(output);
        }
    }

    /// <summary>The nodes <paramref name="gateway"/> reaches (0 before it has seen any member Up).</summary>
    private static async Task<double> ReachableAsync(GatewayProcess gateway)
    {
        var metrics = PrometheusText.Parse((await gateway.Admin.GetAsync("/metrics")).Text);
        return metrics.Where(static s => s.Name == "gateway_cluster_reachable_nodes").Sum(static s => s.Value);
    }

    private static GatewayProcessOptions Options(AppServer app, string host, int remoting) =>
        new GatewayProcessOptions { CallbackUrl = app.CallbackUrl }
            .With("Cluster", "Enabled", "true")
            .With("Cluster", "Discovery", "Dns")
            .With("Cluster", "ServiceName", "localhost")
            .With("Cluster", "Hostname", host)
            .With("Cluster", "Port", remoting.ToString(CultureInfo.InvariantCulture))
            .With("Cluster", "RequiredContactPoints", "1")
            .With("Cluster", "DownAfter", "00:00:03");
}
