using Gateway.Cluster;
using Gateway.Tests.Connections;
using Gateway.WebSockets;
using static Gateway.Registry.RegistryProtocol;

namespace Gateway.Tests.Cluster;

/// <summary>
/// How a cluster-wide admin call is decided: which nodes the command goes to, how their answers add up,
/// and what happens when a node is lost or silent.
/// </summary>
public sealed class ScatterGatherActorSpecs : TestKit
{
    private static readonly Address Node1 = new("akka.tcp", "gateway", "10.0.0.1", 4053);
    private static readonly Address Node2 = new("akka.tcp", "gateway", "10.0.0.2", 4053);
    private static readonly Address Node3 = new("akka.tcp", "gateway", "10.0.0.3", 4053);

    private readonly Dictionary<Address, TestProbe> _nodes = [];

    public ScatterGatherActorSpecs()
        : base(SpecConfig.Akka)
    {
        _nodes[Node1] = CreateTestProbe("node1");
        _nodes[Node2] = CreateTestProbe("node2");
        _nodes[Node3] = CreateTestProbe("node3");
    }

    [Fact]
    public async Task A_send_goes_to_every_target_node_once_and_the_receipts_are_summed()
    {
        var send = new SendToConnections(new TargetFilter(Users: ["alice"]), OutboundMessage.Text("{}"));
        Gather(send, TimeSpan.FromSeconds(10));

        var receipts = new Dictionary<Address, DeliveryReceipt>
        {
            [Node1] = new(2, 2, 0),
            [Node2] = new(3, 1, 2),
            [Node3] = new(0, 0, 0),
        };
        foreach (var (node, probe) in _nodes)
        {
            Assert.Same(send, await probe.ExpectMsgAsync<SendToConnections>());
            probe.Reply(receipts[node]);
            await probe.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(50));
        }

        Assert.Equal(new DeliveryReceipt(5, 3, 2), await ExpectMsgAsync<DeliveryReceipt>());
    }

    [Fact]
    public async Task A_close_sums_what_each_node_closed()
    {
        Gather(new CloseConnections(new TargetFilter(Users: ["bob"]), 1000, string.Empty), TimeSpan.FromSeconds(10));
        foreach (var probe in _nodes.Values)
        {
            await probe.ExpectMsgAsync<CloseConnections>();
            probe.Reply(new ConnectionsClosed(2));
        }

        Assert.Equal(new ConnectionsClosed(6), await ExpectMsgAsync<ConnectionsClosed>());
    }

    [Fact]
    public async Task Lists_merge_users_across_nodes_each_connection_tagged_with_its_node_in_connect_order()
    {
        var a1 = TestIdentities.Tapr("a1", user: "alice");
        var b1 = TestIdentities.Tapr("b1", user: "bob", accessPublic: true);
        var a2 = TestIdentities.Tapr("a2", user: "alice");
        var c1 = TestIdentities.Tapr("c1", user: "carol");
        Gather(GetConnections.Instance, TimeSpan.FromSeconds(10));

        // Node 2 answers first, with the later alice connection.
        await _nodes[Node2].ExpectMsgAsync<GetConnections>();
        _nodes[Node2].Reply(new ConnectionList([new UserConnections("alice", [a2], []), new UserConnections("carol", [c1], [])]));
        await _nodes[Node1].ExpectMsgAsync<GetConnections>();
        _nodes[Node1].Reply(new ConnectionList([new UserConnections("alice", [a1], []), new UserConnections("bob", [], [b1])]));
        await _nodes[Node3].ExpectMsgAsync<GetConnections>();
        _nodes[Node3].Reply(new ConnectionList([]));

        var merged = await ExpectMsgAsync<PeersProtocol.ClusterConnectionList>();
        Assert.Equal(["alice", "bob", "carol"], merged.List.Users.Select(u => u.Name));
        Assert.Equal([a1, a2], merged.List.Users[0].Private);
        Assert.Equal([b1], merged.List.Users[1].Public);
        Assert.Equal(Node1.ToString(), merged.NodeOf[a1]);
        Assert.Equal(Node2.ToString(), merged.NodeOf[a2]);
        Assert.Equal(Node2.ToString(), merged.NodeOf[c1]);
        Assert.Empty(merged.MissingNodes);
    }

    [Fact]
    public async Task A_node_that_does_not_answer_in_time_is_left_out_and_named_missing()
    {
        var a1 = TestIdentities.Tapr("a1", user: "alice");
        // Long enough that a stalled test thread still replies for nodes 1 and 3 in time.
        Gather(GetConnections.Instance, Dilated(TimeSpan.FromSeconds(2)));
        await _nodes[Node1].ExpectMsgAsync<GetConnections>();
        _nodes[Node1].Reply(new ConnectionList([new UserConnections("alice", [a1], [])]));
        await _nodes[Node3].ExpectMsgAsync<GetConnections>();
        _nodes[Node3].Reply(new ConnectionList([]));

        // Node 2 stays silent.
        var partial = await ExpectMsgAsync<PeersProtocol.ClusterConnectionList>(Dilated(TimeSpan.FromSeconds(10)));
        Assert.Equal([a1], partial.List.Users.Single().Private);
        Assert.Equal([Node2.ToString()], partial.MissingNodes);
    }

    [Fact]
    public async Task A_node_lost_while_gathering_is_not_waited_for()
    {
        var gather = Gather(new SendToConnections(new TargetFilter(Users: ["alice"]), OutboundMessage.Text("1")), TimeSpan.FromMinutes(1));
        await _nodes[Node1].ExpectMsgAsync<SendToConnections>();
        _nodes[Node1].Reply(new DeliveryReceipt(1, 1, 0));
        await _nodes[Node3].ExpectMsgAsync<SendToConnections>();
        _nodes[Node3].Reply(new DeliveryReceipt(1, 1, 0));

        gather.Tell(new PeersProtocol.NodeLost(Node2));

        Assert.Equal(new DeliveryReceipt(2, 2, 0), await ExpectMsgAsync<DeliveryReceipt>(Dilated(TimeSpan.FromSeconds(3))));
    }

    [Fact]
    public async Task A_node_that_left_while_gathering_is_not_waited_for_and_not_named_missing()
    {
        var a1 = TestIdentities.Tapr("a1", user: "alice");
        var gather = Gather(GetConnections.Instance, TimeSpan.FromMinutes(1));
        await _nodes[Node1].ExpectMsgAsync<GetConnections>();
        _nodes[Node1].Reply(new ConnectionList([new UserConnections("alice", [a1], [])]));
        await _nodes[Node3].ExpectMsgAsync<GetConnections>();
        _nodes[Node3].Reply(new ConnectionList([]));

        // Node 2 drained and began to leave: it holds nothing, so the list is whole without it.
        gather.Tell(new PeersProtocol.NodeLeft(Node2));

        var list = await ExpectMsgAsync<PeersProtocol.ClusterConnectionList>(Dilated(TimeSpan.FromSeconds(3)));
        Assert.Equal([a1], list.List.Users.Single().Private);
        Assert.Empty(list.MissingNodes);
    }

    [Fact]
    public async Task Nodes_already_known_unreachable_are_named_missing_without_being_asked()
    {
        _nodes.Remove(Node3, out var unreachable);
        Gather(GetConnections.Instance, TimeSpan.FromSeconds(10), missing: [Node3.ToString()]);
        foreach (var probe in _nodes.Values)
        {
            await probe.ExpectMsgAsync<GetConnections>();
            probe.Reply(new ConnectionList([]));
        }

        var list = await ExpectMsgAsync<PeersProtocol.ClusterConnectionList>();
        Assert.Equal([Node3.ToString()], list.MissingNodes);
        await unreachable!.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public async Task An_answer_from_a_node_that_was_not_asked_or_a_second_answer_counts_for_nothing()
    {
        _nodes.Remove(Node3, out var stranger);
        Gather(new CloseConnections(new TargetFilter(Users: ["bob"]), 1000, string.Empty), TimeSpan.FromSeconds(10), sender: stranger);
        await _nodes[Node1].ExpectMsgAsync<CloseConnections>();
        _nodes[Node1].Reply(new ConnectionsClosed(1));
        _nodes[Node1].Reply(new ConnectionsClosed(1));
        await _nodes[Node2].ExpectMsgAsync<CloseConnections>();
        _nodes[Node2].Reply(new ConnectionsClosed(1));

        Assert.Equal(new ConnectionsClosed(2), await stranger!.ExpectMsgAsync<ConnectionsClosed>());
    }

    private IActorRef Gather(object command, TimeSpan timeout, IEnumerable<string>? missing = null, TestProbe? sender = null)
    {
        var byRef = _nodes.ToDictionary(n => n.Value.Ref, n => n.Key);
        var targets = _nodes.ToDictionary(n => n.Key, n => (ICanTell)n.Value.Ref);
        return Sys.ActorOf(ScatterGatherActor.Props(
            command,
            targets,
            answerer => byRef.TryGetValue(answerer, out var node) ? node : new Address("akka.tcp", "gateway", "unknown", 1),
            sender?.Ref ?? TestActor,
            timeout,
            missing ?? []));
    }
}
