
namespace Gateway.IntegrationTests.Cluster;

/// <summary>Three real gateways started once for the specs of this class, joined into one cluster.</summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public GatewayCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync() => Cluster = await GatewayCluster.StartAsync(output: null);

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
}
