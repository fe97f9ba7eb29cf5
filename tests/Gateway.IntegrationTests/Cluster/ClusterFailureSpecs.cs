using System.Diagnostics;
using System.Text.Json;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Cluster;

/// <summary>
/// Issue 11, failure: a node killed outright is skipped and then dropped (failure detector plus split-brain
/// resolver), the others keep serving, and a restarted node rejoins; a node stopped with SIGTERM drains like a
/// single gateway (1001 to its clients, close callbacks to its own app) and leaves the cluster gracefully.
/// Each spec runs its own three-node cluster.
/// </summary>
public sealed class ClusterFailureSpecs(ITestOutputHelper output) : ClusterSpec(output)
{
    private GatewayCluster _cluster = null!;

    public override async Task InitializeAsync() => _cluster = await GatewayCluster.StartAsync(Output);

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _cluster.DisposeAsync();
    }

    [Fact]
    public async Task A_killed_node_is_dropped_while_the_others_keep_serving_and_a_restarted_node_rejoins()
    {
        var prefix = Unique("kill");
        var (first, firstId) = await ConnectTaprAsync(_cluster[0], prefix + "-a");
        var (second, secondId) = await ConnectTaprAsync(_cluster[1], prefix + "-b");
        var (_, doomedId) = await ConnectTaprAsync(_cluster[2], prefix + "-c");
        var ours = new HashSet<string> { firstId, secondId, doomedId };
        await GatewayCluster.WaitForListAsync(_cluster[0], new Dictionary<string, ClusterNode> { [firstId] = _cluster[0], [secondId] = _cluster[1], [doomedId] = _cluster[2] }, ours.Contains);

        var killed = _cluster[2];
        var clock = Stopwatch.StartNew();
        killed.Gateway.Kill();
        _cluster.Nodes.Remove(killed);

        // The others keep serving at once: a send answers (waiting at most the node timeout on the dead node).
        var send = await _cluster[0].Gateway.Admin.SendAsync($"{{\"users\":[\"{prefix}-a\",\"{prefix}-b\",\"{prefix}-c\"],\"payload\":\"still here\"}}");
        Output.WriteLine($"send {clock.Elapsed} after the kill: {send.Text}");
        Assert.Equal("{\"code\":0,\"data\":{\"matched\":2,\"enqueued\":2,\"dropped\":0},\"message\":\"success\"}", send.Text);
        Assert.Equal("\"still here\"", await first.ReceiveTextAsync());
        Assert.Equal("\"still here\"", await second.ReceiveTextAsync());

        // Unreachable: left out of lists at once and named as missing.
        JsonElement partial = default;
        await Wait.UntilAsync(
            async () =>
            {
                partial = JsonDocument.Parse((await _cluster[1].Gateway.Admin.ListAsync()).Body).RootElement.Clone();
                return partial.TryGetProperty("missing_nodes", out _);
            },
            TestTimeouts.Long,
            "the killed node to be named missing");
        var unreachableAfter = clock.Elapsed;
        Assert.Equal([killed.Address], partial.GetProperty("missing_nodes").EnumerateArray().Select(e => e.GetString()));
        Assert.DoesNotContain(GatewayCluster.ListedNodes(partial), c => c.Key == doomedId);

        // Downed and removed by the keep-majority resolver: the list is whole again, without the dead node's sockets.
        await Wait.UntilAsync(
            async () => !JsonDocument.Parse((await _cluster[0].Gateway.Admin.ListAsync()).Body).RootElement.TryGetProperty("missing_nodes", out _),
            TestTimeouts.Long,
            "the killed node to be downed and removed");
        var removedAfter = clock.Elapsed;
        Output.WriteLine($"killed node unreachable (missing from list) after {unreachableAfter}, removed after {removedAfter}");
        await GatewayCluster.WaitForListAsync(_cluster[0], new Dictionary<string, ClusterNode> { [firstId] = _cluster[0], [secondId] = _cluster[1] }, ours.Contains);

        // The node restarts (as a new pod would) and rejoins: its sockets are reachable from the others again.
        var restarted = await _cluster.AddNodeAsync();
        await _cluster.WaitUntilConvergedAsync();
        var (back, backId) = await ConnectTaprAsync(restarted, prefix + "-c");
        await GatewayCluster.WaitForListAsync(_cluster[0], new Dictionary<string, ClusterNode> { [firstId] = _cluster[0], [secondId] = _cluster[1], [backId] = restarted }, id => ours.Contains(id) || id == backId);
        var again = await _cluster[1].Gateway.Admin.SendAsync($"{{\"users\":[\"{prefix}-c\"],\"payload\":\"welcome back\"}}");
        Assert.Contains("\"matched\":1,", again.Text, StringComparison.Ordinal);
        Assert.Equal("\"welcome back\"", await back.ReceiveTextAsync());
    }

    [Fact]
    public async Task A_sigtermed_node_closes_its_clients_with_1001_its_own_app_hears_the_closes_and_it_leaves_gracefully()
    {
        var prefix = Unique("term");
        var (first, third) = (_cluster[0], _cluster[2]);
        var (stays, staysId) = await ConnectTaprAsync(first, prefix + "-a");
        var (leaving1, leaving1Id) = await ConnectTaprAsync(_cluster[1], prefix + "-b");
        var (leaving2, leaving2Id) = await ConnectTaprAsync(_cluster[1], prefix + "-b");
        var ours = new HashSet<string> { staysId, leaving1Id, leaving2Id };
        await GatewayCluster.WaitForListAsync(third, new Dictionary<string, ClusterNode> { [staysId] = first, [leaving1Id] = _cluster[1], [leaving2Id] = _cluster[1] }, ours.Contains);

        var leaving = _cluster[1];
        await leaving.Gateway.SignalTerminateAsync();

        Assert.Equal(new WsClose(1001, "gateway shutting down", FrameReceived: true), await leaving1.WaitForCloseAsync());
        Assert.Equal(new WsClose(1001, "gateway shutting down", FrameReceived: true), await leaving2.WaitForCloseAsync());
        Assert.Equal(0, await leaving.Gateway.WaitForExitAsync(TestTimeouts.Long));
        _cluster.Nodes.Remove(leaving);
        Assert.Equal(["open", "close"], leaving.App.ForConnection(leaving1Id).Select(c => c.Action));
        Assert.Equal(["open", "close"], leaving.App.ForConnection(leaving2Id).Select(c => c.Action));
        Assert.Contains(leaving.Gateway.Output.Lines, l => l.Contains("Exiting completed", StringComparison.Ordinal));

        // A graceful leave: the others never see it unreachable, and go on with a whole list.
        await _cluster.WaitUntilConvergedAsync();
        var list = await GatewayCluster.WaitForListAsync(third, new Dictionary<string, ClusterNode> { [staysId] = first }, ours.Contains);
        Assert.False(list.TryGetProperty("missing_nodes", out _), list.ToString());
        var send = await third.Gateway.Admin.SendAsync($"{{\"users\":[\"{prefix}-a\",\"{prefix}-b\"],\"payload\":1}}");
        Assert.Equal("{\"code\":0,\"data\":{\"matched\":1,\"enqueued\":1,\"dropped\":0},\"message\":\"success\"}", send.Text);
        Assert.Equal("1", await stays.ReceiveTextAsync());
        Assert.Empty(first.App.ForConnection(leaving1Id));
        Assert.Empty(third.App.ForConnection(leaving1Id));
    }

    [Fact]
    public async Task A_node_cut_off_from_the_majority_is_downed_drains_like_sigterm_and_exits_to_be_restarted()
    {
        var prefix = Unique("down");
        var (first, cut) = (_cluster[0], _cluster[2]);
        var (client, clientId) = await ConnectTaprAsync(cut, prefix + "-c");
        await GatewayCluster.WaitForListAsync(first, new Dictionary<string, ClusterNode> { [clientId] = cut }, id => id == clientId);

        // Frozen, the node answers no heartbeat: the majority marks it unreachable and downs it.
        await Signal(cut, "STOP");
        try
        {
            await Wait.UntilAsync(
                async () => !JsonDocument.Parse((await first.Gateway.Admin.ListAsync()).Body).RootElement.TryGetProperty("missing_nodes", out _)
                    && await first.Gateway.Admin.MetricAsync("gateway_cluster_reachable_nodes") == 2,
                TestTimeouts.Long,
                "the frozen node to be downed and removed by the majority");
        }
        finally
        {
            await Signal(cut, "CONT");
        }

        // Thawed, it learns it is out of the cluster and drains exactly as on SIGTERM, then exits non-zero.
        Assert.Equal(new WsClose(1001, "gateway shutting down", FrameReceived: true), await client.WaitForCloseAsync(TestTimeouts.Long));
        Assert.Equal(3, await cut.Gateway.WaitForExitAsync(TestTimeouts.Long));
        _cluster.Nodes.Remove(cut);
        Assert.Equal(["open", "close"], cut.App.ForConnection(clientId).Select(c => c.Action));
        Assert.Contains(cut.Gateway.Output.Lines, l => l.Contains("This node was downed by the cluster", StringComparison.Ordinal));
    }

    private static async Task Signal(ClusterNode node, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", [$"-{signal}", node.Gateway.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        await kill.WaitForExitAsync();
        Assert.Equal(0, kill.ExitCode);
    }
}
