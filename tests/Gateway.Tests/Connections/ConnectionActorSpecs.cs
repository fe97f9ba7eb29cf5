using System.Text;
using Gateway.Callbacks;
using Gateway.Connections;
using Gateway.Tests.WebSockets;
using Gateway.WebSockets;

namespace Gateway.Tests.Connections;

public sealed class ConnectionActorSpecs : TestKit
{
    private static readonly ConnectionSettings NoDeadline = new(null, AnyFrameIsLiveness: true);

    private readonly TestProbe _callbacks;
    private readonly RecordingOutbox _outbox = new();
    private readonly InboundFlow _flow = TestIdentities.Flow();

    public ConnectionActorSpecs()
        : base(SpecConfig.Akka)
    {
        _callbacks = CreateTestProbe("callbacks");
    }

    [Fact]
    public async Task A_connection_actor_runs_on_the_lean_connection_mailbox()
    {
        var connection = Start(TestIdentities.Tapr("mailbox"), NoDeadline);
        await _callbacks.ExpectMsgAsync<CallbackProtocol.ConnectionOpened>();

        var cell = (Akka.Actor.ActorCell)((Akka.Actor.ActorRefWithCell)connection).Underlying;
        Assert.IsType<ConnectionMessageQueue>(cell.Mailbox!.MessageQueue);
        Assert.Equal(ConnectionMailbox.Id, cell.Props.Mailbox);

        // Every connection actor's props share one deployment: it lives as long as the actor, once per process.
        var other = Start(TestIdentities.Tapr("mailbox-2"), NoDeadline);
        await _callbacks.ExpectMsgAsync<CallbackProtocol.ConnectionOpened>();
        var otherCell = (Akka.Actor.ActorCell)((Akka.Actor.ActorRefWithCell)other).Underlying;
        Assert.Same(cell.Props.Deploy, otherCell.Props.Deploy);
    }

    [Fact]
    public async Task PreStart_tells_the_app_the_connection_opened()
    {
        var identity = TestIdentities.Tapr("c1");
        var connection = Start(identity, NoDeadline);

        var opened = await _callbacks.ExpectMsgAsync<CallbackProtocol.ConnectionOpened>();
        Assert.Same(identity, opened.Identity);
        Assert.Equal(connection, _callbacks.LastSender);
        Assert.Empty(_outbox.Sent);
    }

    [Fact]
    public async Task Ping_is_answered_with_pong_and_not_forwarded()
    {
        var connection = Start(TestIdentities.Tapr("c1"), NoDeadline);
        await _callbacks.ExpectMsgAsync<CallbackProtocol.ConnectionOpened>();

        connection.Tell(ConnectionProtocol.Ping.Instance, TestActor);

        await AwaitAssertAsync(() => Assert.Equal(["{\"event\":\"pong\"}"], _outbox.Sent));
        Assert.Equal(Opcode.Text, _outbox.Messages[0].Opcode);
        await _callbacks.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public async Task A_frame_for_the_app_becomes_a_message_callback_with_the_connection_flow()
    {
        var identity = TestIdentities.Tapr("c1");
        var connection = Start(identity, NoDeadline);
        await _callbacks.ExpectMsgAsync<CallbackProtocol.ConnectionOpened>();
        var frame = new ConnectionProtocol.ForwardToApp(Encoding.UTF8.GetBytes("{\"event\":\"chat\"}"), ConnectionProtocol.FrameKind.JsonObject, 0, 16);

        connection.Tell(frame, TestActor);

        var received = await _callbacks.ExpectMsgAsync<CallbackProtocol.MessageReceived>();
        Assert.Same(identity, received.Identity);
        Assert.Same(frame, received.Message);
        Assert.Same(_flow, received.Flow);
        Assert.Equal(connection, _callbacks.LastSender);
        Assert.Empty(_outbox.Sent);
    }

    [Fact]
    public async Task Frames_for_the_app_are_forwarded_in_the_order_they_came()
    {
        var connection = Start(TestIdentities.Tapr("c1"), NoDeadline);
        await _callbacks.ExpectMsgAsync<CallbackProtocol.ConnectionOpened>();

        for (var i = 0; i < 20; i++)
        {
            connection.Tell(new ConnectionProtocol.ForwardToApp([(byte)i], ConnectionProtocol.FrameKind.Binary, 0, 0), TestActor);
        }

        for (var i = 0; i < 20; i++)
        {
            var received = await _callbacks.ExpectMsgAsync<CallbackProtocol.MessageReceived>();
            Assert.Equal([(byte)i], received.Message.Frame);
        }
    }

    [Fact]
    public async Task SendToClient_is_written_to_the_outbox()
    {
        var connection = Start(TestIdentities.Tapr("c1"), NoDeadline);
        await _callbacks.ExpectMsgAsync<CallbackProtocol.ConnectionOpened>();

        connection.Tell(new ConnectionProtocol.SendToClient(OutboundMessage.Text("{\"type\":\"connection\"}")), TestActor);
        connection.Tell(ConnectionProtocol.Ping.Instance, TestActor);

        await AwaitAssertAsync(() => Assert.Equal(["{\"type\":\"connection\"}", "{\"event\":\"pong\"}"], _outbox.Sent));
    }

    [Fact]
    public async Task Close_closes_the_outbox_with_the_given_code_and_stops()
    {
        var connection = Watch(Start(TestIdentities.Tapr("c1"), NoDeadline));

        connection.Tell(new ConnectionProtocol.Close(4100, "kicked"), TestActor);

        await ExpectTerminatedAsync(connection);
        Assert.Equal(new CloseRequest(4100, "kicked"), _outbox.Closes[0]);
        Assert.All(_outbox.Closes, close => Assert.Equal(new CloseRequest(4100, "kicked"), close));
    }

    [Fact]
    public async Task SocketClosed_stops_the_actor_and_PostStop_closes_the_outbox_with_the_socket_code()
    {
        var connection = Watch(Start(TestIdentities.Tapr("c1"), NoDeadline));

        connection.Tell(new ConnectionProtocol.SocketClosed(1001, "going away"), TestActor);

        await ExpectTerminatedAsync(connection);
        Assert.Equal([new CloseRequest(1001, "going away")], _outbox.Closes);
    }

    [Fact]
    public async Task A_stop_from_outside_closes_the_outbox_with_1011_in_PostStop()
    {
        var connection = Watch(Start(TestIdentities.Tapr("c1"), NoDeadline));

        Sys.Stop(connection);

        await ExpectTerminatedAsync(connection);
        Assert.Equal([new CloseRequest(1011, "internal error")], _outbox.Closes);
    }

    [Theory]
    [InlineData("close")]
    [InlineData("socket-closed")]
    [InlineData("ping-timeout")]
    [InlineData("poison-pill")]
    [InlineData("stop")]
    [InlineData("close-twice-then-socket-closed")]
    public async Task Exactly_one_close_callback_is_sent_whatever_stopped_the_connection(string how)
    {
        var identity = TestIdentities.Tapr("c1");
        var timeout = how == "ping-timeout" ? TimeSpan.FromMilliseconds(200) : (TimeSpan?)null;
        var connection = Watch(Start(identity, new ConnectionSettings(timeout, AnyFrameIsLiveness: true)));
        await _callbacks.ExpectMsgAsync<CallbackProtocol.ConnectionOpened>();

        switch (how)
        {
            case "close":
                connection.Tell(new ConnectionProtocol.Close(1000, "bye"), TestActor);
                break;
            case "socket-closed":
                connection.Tell(new ConnectionProtocol.SocketClosed(1006, "lost"), TestActor);
                break;
            case "poison-pill":
                connection.Tell(PoisonPill.Instance, TestActor);
                break;
            case "stop":
                Sys.Stop(connection);
                break;
            case "close-twice-then-socket-closed":
                connection.Tell(new ConnectionProtocol.Close(1000, "bye"), TestActor);
                connection.Tell(new ConnectionProtocol.Close(4001, "again"), TestActor);
                connection.Tell(new ConnectionProtocol.SocketClosed(1000, "bye"), TestActor);
                break;
        }

        await ExpectTerminatedAsync(connection, TimeSpan.FromSeconds(2));
        var closed = await _callbacks.ExpectMsgAsync<CallbackProtocol.ConnectionClosed>();
        Assert.Same(identity, closed.Identity);
        await _callbacks.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public async Task Frames_from_a_read_loop_that_outlived_its_actor_are_not_logged_as_dead_letters()
    {
        var connection = Watch(Start(TestIdentities.Tapr("c1"), NoDeadline));
        await _callbacks.ExpectMsgAsync<CallbackProtocol.ConnectionOpened>();
        connection.Tell(new ConnectionProtocol.Close(1000, "done"), TestActor);
        await ExpectTerminatedAsync(connection);

        // What a read loop or the registry may still send after the socket closed is expected and silent;
        // anything else sent to a stopped connection is a dead letter, as Akka reports it.
        var frame = "{}"u8.ToArray();
        await EventFilter.DeadLetter().ExpectOneAsync(() =>
        {
            connection.Tell(ConnectionProtocol.Ping.Instance, ActorRefs.NoSender);
            connection.Tell(ConnectionProtocol.Heartbeat.Instance, ActorRefs.NoSender);
            connection.Tell(new ConnectionProtocol.ForwardToApp(frame, ConnectionProtocol.FrameKind.JsonObject, 0, frame.Length), ActorRefs.NoSender);
            connection.Tell(new ConnectionProtocol.SendToClient(OutboundMessage.Text("{}")), ActorRefs.NoSender);
            connection.Tell(new ConnectionProtocol.SocketClosed(1006, "gone"), ActorRefs.NoSender);
            connection.Tell(new ConnectionProtocol.Close(1000, "again"), TestActor);
            return Task.CompletedTask;
        });
    }

    [Fact]
    public async Task A_close_the_actor_decides_waits_for_the_socket_so_frames_read_before_it_reach_the_app_before_close()
    {
        var identity = TestIdentities.Tapr("c1");
        var connection = Watch(Start(identity, NoDeadline, reportClose: false));
        await _callbacks.ExpectMsgAsync<CallbackProtocol.ConnectionOpened>();
        var frame = new ConnectionProtocol.ForwardToApp("{}"u8.ToArray(), ConnectionProtocol.FrameKind.JsonObject, 0, 2);

        connection.Tell(new ConnectionProtocol.Close(4000, "ping timeout"), TestActor);
        await AwaitAssertAsync(() => Assert.Equal([new CloseRequest(4000, "ping timeout")], _outbox.Closes));

        // The read loop had this frame in hand when the close was decided: it still goes to the app, before close.
        connection.Tell(frame, TestActor);
        var received = await _callbacks.ExpectMsgAsync<CallbackProtocol.MessageReceived>();
        Assert.Same(frame, received.Message);
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(200));

        connection.Tell(new ConnectionProtocol.SocketClosed(4000, "ping timeout"), TestActor);
        await ExpectTerminatedAsync(connection);
        var closed = await _callbacks.ExpectMsgAsync<CallbackProtocol.ConnectionClosed>();
        Assert.Same(identity, closed.Identity);
    }

    [Fact]
    public async Task A_socket_that_never_reports_its_end_does_not_keep_its_actor_past_the_socket_end_timeout()
    {
        var settings = NoDeadline with { SocketEndTimeout = TimeSpan.FromMilliseconds(300) };
        var connection = Watch(Start(TestIdentities.Tapr("c1"), settings, reportClose: false));
        await _callbacks.ExpectMsgAsync<CallbackProtocol.ConnectionOpened>();

        connection.Tell(new ConnectionProtocol.Close(4100, "kicked"), TestActor);

        await ExpectTerminatedAsync(connection, TimeSpan.FromSeconds(3));
        await _callbacks.ExpectMsgAsync<CallbackProtocol.ConnectionClosed>();
        Assert.All(_outbox.Closes, close => Assert.Equal(new CloseRequest(4100, "kicked"), close));
    }

    [Fact]
    public async Task A_ping_read_before_the_clients_close_is_answered_before_the_socket_is_closed()
    {
        var connection = Watch(Start(TestIdentities.Tapr("c1"), NoDeadline));
        await _callbacks.ExpectMsgAsync<CallbackProtocol.ConnectionOpened>();

        connection.Tell(ConnectionProtocol.Ping.Instance, TestActor);
        connection.Tell(new ConnectionProtocol.SocketClosed(1000, string.Empty), TestActor);

        await ExpectTerminatedAsync(connection);
        Assert.Equal(["{\"event\":\"pong\"}"], _outbox.Sent);
        Assert.Equal([new CloseRequest(1000, string.Empty)], _outbox.Closes);
    }

    [Fact]
    public async Task A_frame_that_reaches_a_stopped_connection_gives_its_inbound_bytes_back()
    {
        // Answering Identify proves its PreStart ran, so it is subscribed before anything is dead-lettered.
        var undelivered = Sys.ActorOf(UndeliveredFramesActor.Props());
        await undelivered.Ask<ActorIdentity>(new Identify(1), RemainingOrDefault);
        var connection = Watch(Start(TestIdentities.Tapr("c1"), NoDeadline));
        await _callbacks.ExpectMsgAsync<CallbackProtocol.ConnectionOpened>();
        Sys.Stop(connection);
        await ExpectTerminatedAsync(connection);

        // What a read loop does with a frame: count it, then tell the actor, which is gone.
        var frame = "{\"n\":1}"u8.ToArray();
        _flow.Acquire(frame.Length);
        _flow.Acquire(frame.Length);
        connection.Tell(new ConnectionProtocol.ForwardToApp(frame, ConnectionProtocol.FrameKind.JsonObject, 0, frame.Length) { Flow = _flow }, ActorRefs.NoSender);
        var walker = new ConnectionProtocol.ForwardToApp(frame, ConnectionProtocol.FrameKind.JsonObject, 0, frame.Length) { Flow = _flow };
        connection.Tell(new ConnectionProtocol.ForwardWithReply(walker, reason => OutboundMessage.Text(reason)), ActorRefs.NoSender);

        await AwaitConditionAsync(() => Task.FromResult(_flow.Pending == 0));
        Assert.Equal(0, _flow.Budget.Pending);
    }

    /// <summary>Starts a connection actor; its outbox reports a close back as the real socket does, unless <paramref name="reportClose"/> is false.</summary>
    private IActorRef Start(ConnectionIdentity identity, ConnectionSettings settings, bool reportClose = true)
    {
        var actor = Sys.ActorOf(ConnectionActor.Props(identity, _outbox, _flow, _callbacks.Ref, settings), identity.Id.Value);
        _outbox.ReportsTo = reportClose ? actor : null;
        return actor;
    }
}
