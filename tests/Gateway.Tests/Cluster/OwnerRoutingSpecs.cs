using Gateway.Cluster;
using static Gateway.Registry.RegistryProtocol;

namespace Gateway.Tests.Cluster;

/// <summary>
/// Which nodes a send or close goes to: by the tag its conn ids carry, by the replicated directory of users and
/// channels, or (whenever a socket could otherwise be missed) to every node.
/// </summary>
public sealed class OwnerRoutingSpecs
{
    private static readonly Address Self = new("akka.tcp", "gateway", "10.0.0.1", 4053);
    private static readonly Address Node2 = new("akka.tcp", "gateway", "10.0.0.2", 4053);
    private static readonly Address Node3 = new("akka.tcp", "gateway", "10.0.0.3", 4053);

    private readonly Dictionary<Address, HashSet<string>?> _directory = new()
    {
        [Self] = [OwnerDirectory.Marker],
        [Node2] = [OwnerDirectory.Marker, OwnerDirectory.UserEntry("alice"), OwnerDirectory.ChannelEntry("lobby")],
        [Node3] = [OwnerDirectory.Marker, OwnerDirectory.UserEntry("bob"), OwnerDirectory.UserEntry("alice")],
    };

    [Fact]
    public void A_send_to_a_user_goes_to_the_nodes_holding_it_and_this_one()
    {
        Assert.Equal([Self, Node3], Decide(new TargetFilter(Users: ["bob"])));
        Assert.Equal([Self, Node2, Node3], Decide(new TargetFilter(Users: ["alice"])));
    }

    [Fact]
    public void Users_and_channels_together_go_only_to_nodes_holding_both()
    {
        Assert.Equal([Self, Node2], Decide(new TargetFilter(Users: ["alice"], Channels: ["lobby"])));
    }

    [Fact]
    public void A_user_no_node_holds_yet_is_broadcast()
    {
        Assert.Null(Decide(new TargetFilter(Users: ["bob", "carol"])));
        Assert.Null(Decide(new TargetFilter(Channels: ["nowhere"])));
    }

    [Fact]
    public void A_node_whose_directory_has_not_arrived_is_always_included()
    {
        _directory[Node3] = null;

        Assert.Equal([Self, Node2, Node3], Decide(new TargetFilter(Users: ["alice"])));
        Assert.Equal([Self, Node3], Decide(new TargetFilter(Users: ["bob"])));
    }

    [Fact]
    public void Token_only_all_and_empty_filters_are_broadcast()
    {
        Assert.Equal(OwnerDirectory.PlanKind.Broadcast, OwnerDirectory.PlanFor(new TargetFilter(Tokens: ["t"])).Kind);
        Assert.Equal(OwnerDirectory.PlanKind.Broadcast, OwnerDirectory.PlanFor(new TargetFilter(All: true)).Kind);
        Assert.Equal(OwnerDirectory.PlanKind.Broadcast, OwnerDirectory.PlanFor(new TargetFilter()).Kind);
        Assert.Equal(OwnerDirectory.PlanKind.ByDirectory, OwnerDirectory.PlanFor(new TargetFilter(Users: ["u"], Tokens: ["t"])).Kind);
    }

    [Fact]
    public void Conn_ids_go_to_the_nodes_their_tags_name_and_untagged_ids_are_broadcast()
    {
        var onNode3 = NodeTag.NewUuid(NodeTag.Of(Node3));
        var jacOnNode2 = NodeTag.StampJac("1700000000:0123456789abcdef0123456789abcdef", NodeTag.Of(Node2));

        Assert.Equal([Self, Node3], Decide(new TargetFilter(ConnIds: [onNode3])));
        Assert.Equal([Self, Node2, Node3], Decide(new TargetFilter(ConnIds: [onNode3, jacOnNode2], Users: ["nobody"])));
        Assert.Equal(OwnerDirectory.PlanKind.Broadcast, OwnerDirectory.PlanFor(new TargetFilter(ConnIds: ["42"])).Kind);
    }

    [Fact]
    public void An_id_whose_tag_no_reachable_node_claims_is_broadcast()
    {
        // Minted by a node not seen Up yet, or by a version that did not tag ids (a plain UUID reads as a tag).
        var plain = Guid.NewGuid().ToString();
        var onNode3 = NodeTag.NewUuid(NodeTag.Of(Node3));

        Assert.Null(Decide(new TargetFilter(ConnIds: [plain])));
        Assert.Null(Decide(new TargetFilter(ConnIds: [onNode3, plain])));
        Assert.Equal([Self], Decide(new TargetFilter(ConnIds: [NodeTag.NewUuid(NodeTag.Of(Self))])));
    }

    [Fact]
    public void Tagged_ids_keep_the_contract_shapes()
    {
        var tag = NodeTag.Of("10.1.2.3", 4053);
        var uuid = NodeTag.NewUuid(tag);
        var jac = NodeTag.StampJac("1700000000:0123456789abcdef0123456789abcdef", tag);

        Assert.Matches("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", uuid);
        Assert.Matches("^1700000000:[0-9a-f]{32}$", jac);
        Assert.EndsWith("89abcdef0123456789abcdef", jac, StringComparison.Ordinal);
        Assert.Equal(tag, NodeTag.Read(uuid));
        Assert.Equal(tag, NodeTag.Read(jac));
        Assert.Null(NodeTag.Read("17"));
        Assert.NotEqual(tag, NodeTag.Of("10.1.2.3", 4054));
    }

    private HashSet<Address>? Decide(TargetFilter filter)
    {
        var plan = OwnerDirectory.PlanFor(filter);
        var others = new List<(Address, string)> { (Node2, NodeTag.Of(Node2)), (Node3, NodeTag.Of(Node3)) };
        var targets = OwnerDirectory.Decide(plan, filter, (Self, NodeTag.Of(Self)), others, (node, entry) => _directory[node]?.Contains(entry));
        return targets?.OrderBy(static a => a.Host, StringComparer.Ordinal).ToHashSet();
    }
}
