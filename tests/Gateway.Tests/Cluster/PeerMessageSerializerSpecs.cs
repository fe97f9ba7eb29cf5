using Gateway.Cluster;
using Gateway.Connections;
using Gateway.Tests.Connections;
using Gateway.WebSockets;
using static Gateway.Registry.RegistryProtocol;

namespace Gateway.Tests.Cluster;

/// <summary>The explicit wire format of the messages that cross nodes: each one round-trips, nothing else is accepted.</summary>
public sealed class PeerMessageSerializerSpecs : TestKit
{
    private readonly PeerMessageSerializer _serializer;

    public PeerMessageSerializerSpecs()
        : base(SpecConfig.Akka)
    {
        _serializer = new PeerMessageSerializer((ExtendedActorSystem)Sys);
    }

    [Fact]
    public void A_send_round_trips_with_its_filter_and_exact_payload_bytes()
    {
        var send = new SendToConnections(
            new TargetFilter(ConnIds: ["c1"], Users: ["alice", "bob"], Tokens: null, Channels: ["ch"], UsersAccessType: 2, All: false),
            OutboundMessage.Binary(new byte[] { 0, 1, 2, 255 }));

        var back = (SendToConnections)RoundTrip(send);

        Assert.Equal(["c1"], back.Filter.ConnIds!);
        Assert.Equal(["alice", "bob"], back.Filter.Users!.Order());
        Assert.Null(back.Filter.Tokens);
        Assert.Equal(["ch"], back.Filter.Channels!);
        Assert.Equal(2, back.Filter.UsersAccessType);
        Assert.Equal(send.Message.Opcode, back.Message.Opcode);
        Assert.Equal(send.Message.Payload.ToArray(), back.Message.Payload.ToArray());
    }

    [Fact]
    public void Close_route_and_answers_round_trip()
    {
        var close = (CloseConnections)RoundTrip(new CloseConnections(new TargetFilter(All: true), 4000, "bye"));
        Assert.True(close.Filter.All);
        Assert.Equal((4000, "bye"), (close.Code, close.Reason));

        var route = (Route)RoundTrip(new Route(RouteKind.Channels, ["x", "y"], OutboundMessage.Text("{\"a\":1}"), Relayed: true));
        Assert.Equal(RouteKind.Channels, route.Kind);
        Assert.Equal(["x", "y"], route.Targets);
        Assert.Equal("{\"a\":1}", route.Message.ToString());
        Assert.True(route.Relayed);

        Assert.Same(GetConnections.Instance, RoundTrip(GetConnections.Instance));
        Assert.Equal(new DeliveryReceipt(3, 2, 1), RoundTrip(new DeliveryReceipt(3, 2, 1)));
        Assert.Equal(new ConnectionsClosed(7), RoundTrip(new ConnectionsClosed(7)));
    }

    [Fact]
    public void A_list_round_trips_without_the_cookie()
    {
        var tapr = TestIdentities.Tapr("c1", user: "alice", cookie: "auth_token=secret");
        var jac = TestIdentities.Jac("1:abc", root: "n::672b", channel: "room");
        var list = (ConnectionList)RoundTrip(new ConnectionList([new UserConnections("alice", [tapr], [jac])]));

        var user = Assert.Single(list.Users);
        Assert.Equal(tapr with { Cookie = string.Empty }, user.Private.Single());
        Assert.Equal(jac, user.Public.Single());
    }

    [Fact]
    public void Anything_else_is_refused_rather_than_serialized_by_reflection()
    {
        Assert.ThrowsAny<Exception>(() => _serializer.ToBinary("a string"));
        var strict = new NoFallbackSerializer((ExtendedActorSystem)Sys);
        var refused = Assert.ThrowsAny<Exception>(() => strict.ToBinary(new ConnectionId("x")));
        Assert.Contains("strict serialization", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_message_over_the_frame_bound_is_refused_with_a_clear_error()
    {
        var huge = new SendToConnections(new TargetFilter(Users: ["u"]), OutboundMessage.Text(new byte[PeerMessageSerializer.MaxMessageBytes + PeerMessageSerializer.FrameHeadroom]));

        var refused = Assert.Throws<PeersProtocol.PeerMessageTooLargeException>(() => _serializer.ToBinary(huge));

        Assert.Contains("may cross nodes", refused.Message, StringComparison.Ordinal);
    }

    private object RoundTrip(object message) => _serializer.FromBinary(_serializer.ToBinary(message), _serializer.Manifest(message));
}
