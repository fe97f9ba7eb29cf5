using Gateway.Callbacks;
using Gateway.Connections;
using Gateway.Tests.Connections;
using Gateway.Tests.WebSockets;
using Gateway.Users;
using Gateway.WebSockets;

namespace Gateway.Tests.Users;

public sealed class UserActorSpecs : TestKit
{
    private static readonly ConnectionSettings NoDeadline = new(null, AnyFrameIsLiveness: true);

    private readonly TestProbe _registry;
    private readonly TestProbe _callbacks;

    public UserActorSpecs()
        : base(SpecConfig.Akka)
    {
        _registry = CreateTestProbe("registry");
        _callbacks = CreateTestProbe("callbacks");
    }

    [Fact]
    public async Task Attach_creates_a_connection_actor_named_by_the_connection_id_and_replies_with_it()
    {
        var user = StartUser("alice");
        var identity = TestIdentities.Tapr("3f1c2a9e-0000-4000-8000-000000000001");

        user.Tell(new UserProtocol.AttachConnection(identity, new RecordingOutbox(), TestIdentities.Flow()), TestActor);

        var attached = await ExpectMsgAsync<UserProtocol.ConnectionAttached>();
        Assert.Equal(identity.Id.Value, attached.Connection.Path.Name);
        Assert.Equal(user.Path, attached.Connection.Path.Parent);
        var opened = await _callbacks.ExpectMsgAsync<CallbackProtocol.ConnectionOpened>();
        Assert.Same(identity, opened.Identity);
        Assert.Equal(attached.Connection, _callbacks.LastSender);
    }

    [Fact]
    public async Task A_connection_that_ends_is_reported_to_the_registry_then_the_user_is_idle_with_its_attach_count()
    {
        var user = StartUser("alice");
        var connection = await AttachAsync(user, TestIdentities.Tapr("c1"));

        connection.Tell(new ConnectionProtocol.SocketClosed(1000, "bye"), TestActor);

        await ExpectEndedAsync("c1");
        await _registry.ExpectMsgAsync(new UserProtocol.UserIdle("alice", 1));
    }

    [Fact]
    public async Task The_user_is_idle_only_after_its_last_connection_ends()
    {
        var user = StartUser("alice");
        var first = await AttachAsync(user, TestIdentities.Tapr("c1"));
        var second = await AttachAsync(user, TestIdentities.Tapr("c2"));
        var third = await AttachAsync(user, TestIdentities.Tapr("c3"));

        second.Tell(new ConnectionProtocol.SocketClosed(1000, "bye"), TestActor);
        await ExpectEndedAsync("c2");
        first.Tell(new ConnectionProtocol.Close(1000, "bye"), TestActor);
        await ExpectEndedAsync("c1");
        await _registry.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(100));

        third.Tell(new ConnectionProtocol.SocketClosed(1000, "bye"), TestActor);
        await ExpectEndedAsync("c3");
        await _registry.ExpectMsgAsync(new UserProtocol.UserIdle("alice", 3));
    }

    [Fact]
    public async Task Tapr_and_jac_connections_get_their_own_dialect_settings()
    {
        var user = Sys.ActorOf(UserActor.Props(
            "n::root",
            _registry.Ref,
            _callbacks.Ref,
            new ConnectionSettings(TimeSpan.FromMilliseconds(200), AnyFrameIsLiveness: false),
            new ConnectionSettings(null, AnyFrameIsLiveness: false),
            NullLogger<UserActor>.Instance));
        var taprOutbox = new RecordingOutbox();
        var jacOutbox = new RecordingOutbox();
        // jac first: the tapr connection's 200 ms deadline runs from its attach, and its Terminated must not arrive
        // while the jac attach still waits for its acknowledgement.
        var jac = Watch(await AttachAsync(user, TestIdentities.Jac("jac-1"), jacOutbox));
        var tapr = Watch(await AttachAsync(user, TestIdentities.Tapr("tapr-1", user: "n::root"), taprOutbox));

        await ExpectTerminatedAsync(tapr, TimeSpan.FromSeconds(2));
        Assert.Equal(new CloseRequest(4000, "ping timeout"), taprOutbox.Closes[0]);
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300));
        Assert.Empty(jacOutbox.Closes);
        Unwatch(jac);
    }

    [Fact]
    public async Task A_failing_connection_is_stopped_not_restarted_and_its_siblings_live_on()
    {
        var user = StartUser("alice");
        var failingOutbox = new RecordingOutbox { ThrowOnEnqueue = new InvalidOperationException("socket exploded") };
        var siblingOutbox = new RecordingOutbox();
        var failing = Watch(await AttachAsync(user, TestIdentities.Tapr("c1"), failingOutbox));
        var sibling = await AttachAsync(user, TestIdentities.Tapr("c2"), siblingOutbox);
        await _callbacks.ExpectMsgAsync<CallbackProtocol.ConnectionOpened>(o => o.Identity.Id.Value == "c1");
        await _callbacks.ExpectMsgAsync<CallbackProtocol.ConnectionOpened>(o => o.Identity.Id.Value == "c2");

        failing.Tell(ConnectionProtocol.Ping.Instance, TestActor);

        await ExpectTerminatedAsync(failing);
        await ExpectEndedAsync("c1");
        var closed = await _callbacks.ExpectMsgAsync<CallbackProtocol.ConnectionClosed>();
        Assert.Equal("c1", closed.Identity.Id.Value);
        Assert.Equal(new CloseRequest(1011, "internal error"), failingOutbox.Closes[0]);

        // A restart would have run PreStart again: a second open for c1.
        await _callbacks.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(200));
        await _registry.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(50));
        sibling.Tell(ConnectionProtocol.Ping.Instance, TestActor);
        await AwaitAssertAsync(() => Assert.Equal(["{\"event\":\"pong\"}"], siblingOutbox.Sent));
    }

    [Fact]
    public async Task Abandon_stops_the_connection_with_that_id()
    {
        var user = StartUser("alice");
        var connection = Watch(await AttachAsync(user, TestIdentities.Tapr("c1")));

        user.Tell(new UserProtocol.AbandonConnection(new ConnectionId("c1")), TestActor);

        await ExpectTerminatedAsync(connection);
        await ExpectEndedAsync("c1");
        await _registry.ExpectMsgAsync(new UserProtocol.UserIdle("alice", 1));
    }

    [Fact]
    public async Task Abandoning_an_unknown_id_changes_nothing()
    {
        var user = Watch(StartUser("alice"));
        var outbox = new RecordingOutbox();
        var connection = await AttachAsync(user, TestIdentities.Tapr("c1"), outbox);

        user.Tell(new UserProtocol.AbandonConnection(new ConnectionId("nope")), TestActor);
        connection.Tell(ConnectionProtocol.Ping.Instance, TestActor);

        await AwaitAssertAsync(() => Assert.Single(outbox.Sent));
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(100));
        await _registry.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(50));
    }

    [Fact]
    public async Task A_second_attach_with_a_live_id_is_refused_and_the_first_connection_is_kept()
    {
        var user = StartUser("alice");
        var outbox = new RecordingOutbox();
        var first = await AttachAsync(user, TestIdentities.Tapr("c1"), outbox);
        var duplicateOutbox = new RecordingOutbox();

        user.Tell(new UserProtocol.AttachConnection(TestIdentities.Tapr("c1"), duplicateOutbox, TestIdentities.Flow()), TestActor);

        var failure = await ExpectMsgAsync<Status.Failure>();
        Assert.IsType<InvalidActorNameException>(failure.Cause);
        first.Tell(ConnectionProtocol.Ping.Instance, TestActor);
        await AwaitAssertAsync(() => Assert.Single(outbox.Sent));
        Assert.Empty(duplicateOutbox.Closes);
        await _registry.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(100));
    }

    private IActorRef StartUser(string user) =>
        Sys.ActorOf(UserActor.Props(user, _registry.Ref, _callbacks.Ref, NoDeadline, NoDeadline, NullLogger<UserActor>.Instance));

    private async Task<IActorRef> AttachAsync(IActorRef user, ConnectionIdentity identity, IOutbox? outbox = null)
    {
        outbox ??= new RecordingOutbox();
        user.Tell(new UserProtocol.AttachConnection(identity, outbox, TestIdentities.Flow()), TestActor);
        var connection = (await ExpectMsgAsync<UserProtocol.ConnectionAttached>()).Connection;
        if (outbox is RecordingOutbox recording)
        {
            recording.ReportsTo = connection; // as the socket's read loop reports the end of a close
        }

        return connection;
    }

    /// <summary>
    /// A connection's end reaches the registry twice: from the connection actor as it stops (so an app that lists on
    /// receiving close almost never finds it) and from the user actor watching it. The registry's removal is idempotent.
    /// </summary>
    private async Task ExpectEndedAsync(string id)
    {
        await _registry.ExpectMsgAsync(new UserProtocol.ConnectionEnded(new ConnectionId(id)));
        await _registry.ExpectMsgAsync(new UserProtocol.ConnectionEnded(new ConnectionId(id)));
    }
}
