using System.Text;
using Gateway.Callbacks;
using Gateway.Connections;
using Gateway.Registry;
using Gateway.Tests.WebSockets;
using Gateway.WebSockets;

namespace Gateway.Tests.Connections;

/// <summary>What a connection actor does for the jac dialect: walkers answered in order, direct messages and identity changes.</summary>
public sealed class ConnectionActorJacSpecs : TestKit
{
    private readonly TestProbe _callbacks;
    private readonly TestProbe _registry;
    private readonly RecordingOutbox _outbox = new();
    private readonly InboundFlow _flow = TestIdentities.Flow();
    private readonly ConnectionIdentity _identity = TestIdentities.Jac("1735689600:00000000000000000000000000000001", root: "n::000000000000000000000001");
    private readonly ConnectionSettings _settings;

    public ConnectionActorJacSpecs()
        : base(SpecConfig.Akka)
    {
        _callbacks = CreateTestProbe("callbacks");
        _registry = CreateTestProbe("registry");
        _settings = new ConnectionSettings(null, AnyFrameIsLiveness: true) { ReplyTimeout = TimeSpan.FromSeconds(7), Registry = _registry.Ref };
    }

    [Fact]
    public async Task A_walker_that_wants_a_response_goes_to_the_app_with_the_connection_as_reply_target()
    {
        var connection = await StartAsync();
        var walker = Walker();

        connection.Tell(new ConnectionProtocol.ForwardWithReply(walker, Failure("first")), TestActor);

        var received = await _callbacks.ExpectMsgAsync<CallbackProtocol.WalkerReceived>();
        Assert.Same(walker, received.Message);
        Assert.Same(_identity, received.Identity);
        Assert.Same(_flow, received.Flow);
        Assert.Equal(connection, received.ReplyTo);
        Assert.Equal(TimeSpan.FromSeconds(7), received.Timeout);
    }

    [Fact]
    public async Task The_app_response_is_sent_to_the_client_as_one_text_frame()
    {
        var connection = await StartAsync();
        connection.Tell(new ConnectionProtocol.ForwardWithReply(Walker(), Failure("first")), TestActor);

        connection.Tell(new CallbackProtocol.WalkerReplied(Encoding.UTF8.GetBytes("{\"reports\":[1, 2]}")), TestActor);

        await AwaitAssertAsync(() => Assert.Equal(["{\"reports\":[1, 2]}"], _outbox.Sent));
        Assert.Equal(Opcode.Text, _outbox.Messages[0].Opcode);
    }

    [Theory]
    [InlineData("not json", "first:the app's response is not valid JSON")]
    [InlineData("{\"a\":1} {\"b\":2}", "first:the app's response is not valid JSON")]
    [InlineData("", "first:the app's response is empty")]
    public async Task A_response_that_is_not_one_json_value_is_answered_with_the_failure_frame(string body, string frame)
    {
        var connection = await StartAsync();
        connection.Tell(new ConnectionProtocol.ForwardWithReply(Walker(), Failure("first")), TestActor);

        connection.Tell(new CallbackProtocol.WalkerReplied(Encoding.UTF8.GetBytes(body)), TestActor);

        await AwaitAssertAsync(() => Assert.Equal([frame], _outbox.Sent));
    }

    [Fact]
    public async Task Replies_answer_the_walkers_in_the_order_they_were_sent()
    {
        var connection = await StartAsync();
        connection.Tell(new ConnectionProtocol.ForwardWithReply(Walker(), Failure("first")), TestActor);
        connection.Tell(new ConnectionProtocol.ForwardWithReply(Walker(), Failure("second")), TestActor);
        connection.Tell(new ConnectionProtocol.ForwardWithReply(Walker(), Failure("third")), TestActor);

        connection.Tell(new CallbackProtocol.WalkerFailed("timed out"), TestActor);
        connection.Tell(new CallbackProtocol.WalkerReplied("[1]"u8.ToArray()), TestActor);
        connection.Tell(new CallbackProtocol.WalkerFailed("app answered 400"), TestActor);

        await AwaitAssertAsync(() => Assert.Equal(["first:timed out", "[1]", "third:app answered 400"], _outbox.Sent));
    }

    [Fact]
    public async Task A_direct_message_is_routed_through_the_registry()
    {
        var connection = await StartAsync();
        var message = OutboundMessage.Text("{\"hello\":1}");

        connection.Tell(new ConnectionProtocol.RouteToTargets(RegistryProtocol.RouteKind.Channels, ["room"], message), TestActor);

        var route = await _registry.ExpectMsgAsync<RegistryProtocol.Route>();
        Assert.Equal(RegistryProtocol.RouteKind.Channels, route.Kind);
        Assert.Equal(["room"], route.Targets);
        Assert.Same(message, route.Message);
    }

    [Fact]
    public async Task A_changed_identity_is_reported_to_the_registry_and_used_for_later_callbacks()
    {
        var connection = Watch(await StartAsync());

        connection.Tell(new ConnectionProtocol.ChangeIdentity("n::alice", "jwt", AccessPublic: false), TestActor);

        var changed = await _registry.ExpectMsgAsync<RegistryProtocol.IdentityChanged>();
        Assert.Same(_identity, changed.Previous);
        Assert.Equal(_identity.Id, changed.Current.Id);
        Assert.Equal(_identity.Channel, changed.Current.Channel);
        Assert.Equal(("n::alice", "jwt", false), (changed.Current.User, changed.Current.Token, changed.Current.AccessPublic));

        connection.Tell(Walker(), TestActor);
        Assert.Same(changed.Current, (await _callbacks.ExpectMsgAsync<CallbackProtocol.MessageReceived>()).Identity);
        connection.Tell(new ConnectionProtocol.Close(1000, "bye"), TestActor);
        await ExpectTerminatedAsync(connection);
        Assert.Same(changed.Current, (await _callbacks.ExpectMsgAsync<CallbackProtocol.ConnectionClosed>()).Identity);
    }

    private async Task<IActorRef> StartAsync()
    {
        var connection = Sys.ActorOf(ConnectionActor.Props(_identity, _outbox, _flow, _callbacks.Ref, _settings), "jac-connection");
        _outbox.ReportsTo = connection;
        await _callbacks.ExpectMsgAsync<CallbackProtocol.ConnectionOpened>();
        return connection;
    }

    private static ConnectionProtocol.ForwardToApp Walker()
    {
        var frame = "{\"type\":\"walker\",\"walker\":\"greet\",\"response\":true}"u8.ToArray();
        return new ConnectionProtocol.ForwardToApp(frame, ConnectionProtocol.FrameKind.JsonObject, 0, frame.Length);
    }

    private static Func<string, OutboundMessage> Failure(string walker) => reason => OutboundMessage.Text($"{walker}:{reason}");
}
