using System.Globalization;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Cluster;

/// <summary>
/// Three real gateways started once for the specs of this class, joined into one cluster. Nothing here kills a node,
/// so a node waits 5 s for a peer's answer and tolerates 10 s of heartbeat silence: a stall of a loaded machine must
/// neither leave a node out of a gathered answer nor get it downed for the rest of the class.
/// </summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public GatewayCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync() => Cluster = await GatewayCluster.StartAsync(
        output: null,
        configure: o => o.With("Cluster", "NodeTimeout", "00:00:05").With("Cluster", "AcceptableHeartbeatPause", "00:00:10"));

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

/// <summary>
/// Issue 11: every admin call works cluster-wide, on any node, with the same bytes as on one gateway
/// (PROTOCOL.md §4), and jac direct messages (§5) reach targets on every node.
/// </summary>
public sealed class ClusterAdminSpecs(ClusterFixture fixture, ITestOutputHelper output) : ClusterSpec(output), IClassFixture<ClusterFixture>
{
    private readonly GatewayCluster _cluster = fixture.Cluster;
    private IReadOnlyList<int> _firstLines = [];

    public override Task InitializeAsync()
    {
        _firstLines = _cluster.LineCounts();
        return Task.CompletedTask;
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        _cluster.Dump(Output, _firstLines);
    }

    [Fact]
    public async Task A_send_on_one_node_reaches_users_on_the_others_exactly_once_with_a_summed_receipt()
    {
        var prefix = Unique("send");
        var (a, aId) = await ConnectTaprAsync(_cluster[0], prefix + "-a");
        var (b1, b1Id) = await ConnectTaprAsync(_cluster[1], prefix + "-b");
        var (b2, b2Id) = await ConnectTaprAsync(_cluster[1], prefix + "-b");
        var (bystander, bystanderId) = await ConnectTaprAsync(_cluster[2], prefix + "-c");
        await GatewayCluster.WaitForListAsync(
            _cluster[2],
            new Dictionary<string, ClusterNode> { [aId] = _cluster[0], [b1Id] = _cluster[1], [b2Id] = _cluster[1], [bystanderId] = _cluster[2] },
            id => id == aId || id == b1Id || id == b2Id || id == bystanderId);

        var response = await _cluster[2].Gateway.Admin.SendAsync($"{{\"users\":[\"{prefix}-a\",\"{prefix}-b\"],\"payload\":{{\"n\": 1}}}}");
        Assert.Equal("{\"code\":0,\"data\":{\"matched\":3,\"enqueued\":3,\"dropped\":0},\"message\":\"success\"}", response.Text);

        // The next frame after the payload is a marker sent afterwards: the payload came once.
        var marker = await _cluster[2].Gateway.Admin.SendAsync($"{{\"users\":[\"{prefix}-a\",\"{prefix}-b\",\"{prefix}-c\"],\"payload\":\"marker\"}}");
        Assert.Contains("\"matched\":4", marker.Text, StringComparison.Ordinal);
        foreach (var client in new[] { a, b1, b2 })
        {
            Assert.Equal("{\"n\": 1}", await client.ReceiveTextAsync());
            Assert.Equal("\"marker\"", await client.ReceiveTextAsync());
        }

        Assert.Equal("\"marker\"", await bystander.ReceiveTextAsync());
    }

    [Fact]
    public async Task A_send_by_conn_id_reaches_a_socket_on_another_node()
    {
        var (client, connId) = await ConnectTaprAsync(_cluster[0], Unique("byid"));
        await GatewayCluster.WaitForListAsync(_cluster[1], new Dictionary<string, ClusterNode> { [connId] = _cluster[0] }, id => id == connId);

        var response = await _cluster[1].Gateway.Admin.SendAsync($"{{\"conn_id\":\"{connId}\",\"payload\":[1,2]}}");

        Assert.Equal("{\"code\":0,\"data\":{\"matched\":1,\"enqueued\":1,\"dropped\":0},\"message\":\"success\"}", response.Text);
        Assert.Equal("[1,2]", await client.ReceiveTextAsync());
    }

    [Fact]
    public async Task A_payload_at_the_admin_body_limit_crosses_nodes_whole()
    {
        var (client, connId) = await ConnectTaprAsync(_cluster[0], Unique("big"));
        await GatewayCluster.WaitForListAsync(_cluster[1], new Dictionary<string, ClusterNode> { [connId] = _cluster[0] }, id => id == connId);
        var envelope = $"{{\"conn_id\":\"{connId}\",\"payload\":\"\"}}";
        var payload = "\"" + new string('x', (4 * 1024 * 1024) - envelope.Length) + "\"";

        var response = await _cluster[1].Gateway.Admin.SendAsync($"{{\"conn_id\":\"{connId}\",\"payload\":{payload}}}");

        Assert.Equal("{\"code\":0,\"data\":{\"matched\":1,\"enqueued\":1,\"dropped\":0},\"message\":\"success\"}", response.Text);
        Assert.Equal(payload, await client.ReceiveTextAsync());
    }

    [Fact]
    public async Task The_list_on_any_node_shows_every_nodes_sockets_each_with_its_node()
    {
        var prefix = Unique("list");
        var expected = new Dictionary<string, ClusterNode>();
        foreach (var node in _cluster.Nodes)
        {
            var (_, id) = await ConnectTaprAsync(node, $"{prefix}-{node.Index}");
            expected[id] = node;
        }

        foreach (var node in _cluster.Nodes)
        {
            var list = await GatewayCluster.WaitForListAsync(node, expected, expected.ContainsKey);
            Assert.Equal(0, list.GetProperty("code").GetInt32());
            Assert.False(list.TryGetProperty("missing_nodes", out _), $"{node} left nodes out: {list}");
        }

        // The node field comes last, after the single-gateway fields, in the same bytes as before.
        var text = (await _cluster[0].Gateway.Admin.ListAsync()).Text;
        Assert.StartsWith("{\"code\":0,\"data\":[", text, StringComparison.Ordinal);
        Assert.EndsWith("],\"message\":\"success\"}", text, StringComparison.Ordinal);
        Assert.Contains($"\"dialect\":\"tapr\",\"node\":\"{_cluster[1].Address}\"}}", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_close_on_one_node_closes_sockets_on_the_others_and_only_the_owners_app_hears_it()
    {
        var prefix = Unique("close");
        var (a, aId) = await ConnectTaprAsync(_cluster[0], prefix + "-a");
        var (b, bId) = await ConnectTaprAsync(_cluster[1], prefix + "-b");
        await GatewayCluster.WaitForListAsync(_cluster[2], new Dictionary<string, ClusterNode> { [aId] = _cluster[0], [bId] = _cluster[1] }, id => id == aId || id == bId);

        var response = await _cluster[2].Gateway.Admin.CloseAsync($"{{\"users\":[\"{prefix}-a\",\"{prefix}-b\"]}}");

        Assert.Equal("{\"code\":0,\"message\":\"success\"}", response.Text);
        Assert.Equal(1000, (await a.WaitForCloseAsync()).Code);
        Assert.Equal(1000, (await b.WaitForCloseAsync()).Code);
        await _cluster[0].App.WaitForActionAsync(aId, "close");
        await _cluster[1].App.WaitForActionAsync(bId, "close");
        await GatewayCluster.WaitForListAsync(_cluster[2], new Dictionary<string, ClusterNode>(), id => id == aId || id == bId);

        // Each app heard only its own node's socket: open, then its one close.
        Assert.Equal(["open", "close"], _cluster[0].App.ForConnection(aId).Select(c => c.Action));
        Assert.Equal(["open", "close"], _cluster[1].App.ForConnection(bId).Select(c => c.Action));
        Assert.Empty(_cluster[0].App.ForConnection(bId));
        Assert.Empty(_cluster[1].App.ForConnection(aId));
        Assert.Empty(_cluster[2].App.ForConnection(aId));
        Assert.Empty(_cluster[2].App.ForConnection(bId));
    }

    [Fact]
    public async Task Jac_user_channel_and_client_events_reach_targets_on_other_nodes()
    {
        var channel = Unique("chan");
        var onFirst = await ConnectJacAsync(_cluster[0], channel);
        var onSecond = await ConnectJacAsync(_cluster[1], channel);
        var sender = await ConnectJacAsync(_cluster[2]);
        var expected = new Dictionary<string, ClusterNode> { [onFirst.ClientId] = _cluster[0], [onSecond.ClientId] = _cluster[1], [sender.ClientId] = _cluster[2] };
        await GatewayCluster.WaitForListAsync(_cluster[2], expected, expected.ContainsKey);

        await sender.SendAsync($"{{\"type\":\"channel\",\"channel_ids\":[\"{channel}\"],\"data\":{{\"to\":\"channel\"}}}}");
        Assert.Equal("{\"to\":\"channel\"}", await onFirst.ReceiveTextAsync());
        Assert.Equal("{\"to\":\"channel\"}", await onSecond.ReceiveTextAsync());

        await sender.SendAsync($"{{\"type\":\"client\",\"client_ids\":[\"{onSecond.ClientId}\"],\"data\":{{\"to\":\"client\"}}}}");
        Assert.Equal("{\"to\":\"client\"}", await onSecond.ReceiveTextAsync());

        await sender.SendAsync($"{{\"type\":\"user\",\"root_ids\":[\"{onFirst.RootId}\"],\"data\":{{\"to\":\"user\"}}}}");
        Assert.Equal("{\"to\":\"user\"}", await onFirst.ReceiveTextAsync());

        // Marker: the next frame each target gets proves nothing else (no duplicate) came before it.
        await sender.SendAsync($"{{\"type\":\"client\",\"client_ids\":[\"{onFirst.ClientId}\",\"{onSecond.ClientId}\",\"{sender.ClientId}\"],\"data\":{{\"marker\":1}}}}");
        Assert.Equal("{\"marker\":1}", await onFirst.ReceiveTextAsync());
        Assert.Equal("{\"marker\":1}", await onSecond.ReceiveTextAsync());
        Assert.Equal("{\"marker\":1}", await sender.ReceiveTextAsync());
    }

    [Fact]
    public async Task A_send_to_a_user_on_one_other_node_is_routed_to_that_node_only_and_arrives_once()
    {
        var user = Unique("routed");
        var (client, _) = await ConnectTaprAsync(_cluster[1], user);
        await WaitUntilRoutingAsync(_cluster[0]);
        var (broadcast, routed) = await PeerMessagesAsync(_cluster[0]);

        var response = await _cluster[0].Gateway.Admin.SendAsync($"{{\"users\":[\"{user}\"],\"payload\":{{\"n\":1}}}}");
        var marker = await _cluster[0].Gateway.Admin.SendAsync($"{{\"users\":[\"{user}\"],\"payload\":\"marker\"}}");

        Assert.Equal("{\"code\":0,\"data\":{\"matched\":1,\"enqueued\":1,\"dropped\":0},\"message\":\"success\"}", response.Text);
        Assert.Contains("\"matched\":1", marker.Text, StringComparison.Ordinal);
        Assert.Equal("{\"n\":1}", await client.ReceiveTextAsync());
        Assert.Equal("\"marker\"", await client.ReceiveTextAsync());

        // Two calls, each one peer message to node 2 only; nothing to node 3, nothing broadcast.
        Assert.Equal((broadcast, routed + 2), await PeerMessagesAsync(_cluster[0]));
    }

    [Fact]
    public async Task A_send_by_conn_id_goes_only_to_the_node_its_id_names()
    {
        var (client, connId) = await ConnectTaprAsync(_cluster[2], Unique("tagged"));
        var (broadcast, routed) = await PeerMessagesAsync(_cluster[1]);

        var response = await _cluster[1].Gateway.Admin.SendAsync($"{{\"conn_id\":\"{connId}\",\"payload\":7}}");

        Assert.Contains("\"matched\":1", response.Text, StringComparison.Ordinal);
        Assert.Equal("7", await client.ReceiveTextAsync());
        Assert.Equal((broadcast, routed + 1), await PeerMessagesAsync(_cluster[1]));
    }

    [Fact]
    public async Task A_send_by_token_only_is_broadcast_to_every_node()
    {
        var user = Unique("token");
        var (client, _) = await ConnectTaprAsync(_cluster[1], user);
        var (broadcast, routed) = await PeerMessagesAsync(_cluster[0]);

        // A public TAPR socket's token is a random UUID nobody knows: the filter matches nothing, on every node.
        var response = await _cluster[0].Gateway.Admin.SendAsync($"{{\"tokens\":[\"{Guid.NewGuid()}\"],\"payload\":1}}");

        Assert.Contains("\"matched\":0", response.Text, StringComparison.Ordinal);
        Assert.Equal((broadcast + 2, routed), await PeerMessagesAsync(_cluster[0]));
        await client.AssertNoMessageAsync(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public async Task A_socket_that_just_opened_is_never_missed_by_a_routed_send()
    {
        // The user is in the directory already (on node 1), so sends to it are routed, not broadcast; each new
        // socket on nodes 2 and 3 is sent to the moment its app hears `open`, from a third node.
        var user = Unique("fresh");
        var clients = new List<WsClient> { (await ConnectTaprAsync(_cluster[0], user)).Client };
        await WaitUntilRoutingAsync(_cluster[2]);
        await WaitUntilRoutingAsync(_cluster[1]);
        var (broadcastBefore, _) = await PeerMessagesAsync(_cluster[1]);
        var (broadcastBefore3, _) = await PeerMessagesAsync(_cluster[2]);
        for (var round = 1; round <= 6; round++)
        {
            var (on, from) = round % 2 == 0 ? (_cluster[1], _cluster[2]) : (_cluster[2], _cluster[1]);
            clients.Add((await ConnectTaprAsync(on, user)).Client);

            var response = await from.Gateway.Admin.SendAsync($"{{\"users\":[\"{user}\"],\"payload\":{round}}}");

            Assert.Contains($"\"matched\":{clients.Count},", response.Text, StringComparison.Ordinal);
            foreach (var client in clients)
            {
                Assert.Equal(round.ToString(CultureInfo.InvariantCulture), await client.ReceiveTextAsync());
            }
        }

        Assert.Equal(broadcastBefore, (await PeerMessagesAsync(_cluster[1])).Broadcast);
        Assert.Equal(broadcastBefore3, (await PeerMessagesAsync(_cluster[2])).Broadcast);

        // A user nobody held a moment ago: found too (routed or, while unknown, broadcast).
        var newcomer = Unique("newcomer");
        var (fresh, _) = await ConnectTaprAsync(_cluster[1], newcomer);
        var first = await _cluster[0].Gateway.Admin.SendAsync($"{{\"users\":[\"{newcomer}\"],\"payload\":\"hello\"}}");
        Assert.Contains("\"matched\":1,", first.Text, StringComparison.Ordinal);
        Assert.Equal("\"hello\"", await fresh.ReceiveTextAsync());
    }

    /// <summary>The node's peer messages so far, broadcast and routed (0 before its first).</summary>
    private static async Task<(double Broadcast, double Routed)> PeerMessagesAsync(ClusterNode node)
    {
        var series = PrometheusText.Parse((await node.Gateway.Admin.GetAsync("/metrics")).Text).Where(s => s.Name == "gateway_cluster_peer_messages_total").ToList();
        return (Sum("broadcast"), Sum("routed"));

        double Sum(string routing) => series.Where(s => s.Labels.TryGetValue("gateway_cluster_routing", out var value) && value == routing).Sum(s => s.Value);
    }

    /// <summary>
    /// Waits until <paramref name="node"/> routes by the directory (its warm-up after joining is over): a send to a
    /// user with a socket of its own on another node counts as routed.
    /// </summary>
    private async Task WaitUntilRoutingAsync(ClusterNode node)
    {
        var other = _cluster.Nodes.First(n => n != node);
        var probe = Unique("probe");
        await ConnectTaprAsync(other, probe);
        await Wait.UntilAsync(
            async () =>
            {
                var (_, before) = await PeerMessagesAsync(node);
                await node.Gateway.Admin.SendAsync($"{{\"users\":[\"{probe}\"],\"payload\":0}}");
                return (await PeerMessagesAsync(node)).Routed > before;
            },
            TestTimeouts.Long,
            $"{node} to route by the directory");
    }
}
