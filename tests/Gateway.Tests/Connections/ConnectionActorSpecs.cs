using System.Diagnostics;
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
    {
        _callbacks = CreateTestProbe("callbacks");
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

        connection.Tell(ConnectionProtocol.Ping.Instance);

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

        connection.Tell(frame);

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
            connection.Tell(new ConnectionProtocol.ForwardToApp([(byte)i], ConnectionProtocol.FrameKind.Binary, 0, 0));
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

        connection.Tell(new ConnectionProtocol.SendToClient(OutboundMessage.Text("{\"type\":\"connection\"}")));
        connection.Tell(ConnectionProtocol.Ping.Instance);

        await AwaitAssertAsync(() => Assert.Equal(["{\"type\":\"connection\"}", "{\"event\":\"pong\"}"], _outbox.Sent));
    }

    [Fact]
    public async Task Without_liveness_the_connection_is_closed_with_4000_ping_timeout_after_the_timeout()
    {
        var started = Stopwatch.GetTimestamp();
        var connection = Watch(Start(TestIdentities.Tapr("c1"), new ConnectionSettings(TimeSpan.FromMilliseconds(300), AnyFrameIsLiveness: true)));

        await ExpectTerminatedAsync(connection, TimeSpan.FromSeconds(2));

        Assert.True(Stopwatch.GetElapsedTime(started) >= TimeSpan.FromMilliseconds(300), "closed before the timeout");
        Assert.Equal(new CloseRequest(4000, "ping timeout"), _outbox.Closes[0]);
        Assert.All(_outbox.Closes, close => Assert.Equal(4000, close.Code));
        await _callbacks.ExpectMsgAsync<CallbackProtocol.ConnectionOpened>();
        await _callbacks.ExpectMsgAsync<CallbackProtocol.ConnectionClosed>();
    }

    [Fact]
    public async Task Pings_keep_the_connection_alive_past_several_timeouts()
    {
        var connection = Watch(Start(TestIdentities.Tapr("c1"), new ConnectionSettings(TimeSpan.FromMilliseconds(300), AnyFrameIsLiveness: false)));
        var pings = Sys.Scheduler.ScheduleTellRepeatedlyCancelable(TimeSpan.Zero, TimeSpan.FromMilliseconds(50), connection, ConnectionProtocol.Ping.Instance, ActorRefs.NoSender);

        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(1200));
        Assert.Empty(_outbox.Closes);
        Assert.True(_outbox.Sent.Count >= 10, $"only {_outbox.Sent.Count} pongs");

        pings.Cancel();
        await ExpectTerminatedAsync(connection, TimeSpan.FromSeconds(2));
        Assert.Equal(new CloseRequest(4000, "ping timeout"), _outbox.Closes[0]);
    }

    [Fact]
    public async Task Any_frame_keeps_the_connection_alive_when_any_frame_is_liveness()
    {
        var connection = Watch(Start(TestIdentities.Tapr("c1"), new ConnectionSettings(TimeSpan.FromMilliseconds(300), AnyFrameIsLiveness: true)));
        var frames = Sys.Scheduler.ScheduleTellRepeatedlyCancelable(TimeSpan.Zero, TimeSpan.FromMilliseconds(50), connection, new ConnectionProtocol.ForwardToApp("x"u8.ToArray(), ConnectionProtocol.FrameKind.Text, 0, 0), ActorRefs.NoSender);
        var heartbeats = Sys.Scheduler.ScheduleTellRepeatedlyCancelable(TimeSpan.FromMilliseconds(25), TimeSpan.FromMilliseconds(50), connection, ConnectionProtocol.Heartbeat.Instance, ActorRefs.NoSender);

        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(1200));
        Assert.Empty(_outbox.Closes);

        frames.Cancel();
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(600));
        Assert.Empty(_outbox.Closes);

        heartbeats.Cancel();
        await ExpectTerminatedAsync(connection, TimeSpan.FromSeconds(2));
        Assert.Equal(new CloseRequest(4000, "ping timeout"), _outbox.Closes[0]);
    }

    [Fact]
    public async Task Frames_and_heartbeats_are_not_liveness_unless_configured()
    {
        var connection = Watch(Start(TestIdentities.Tapr("c1"), new ConnectionSettings(TimeSpan.FromMilliseconds(300), AnyFrameIsLiveness: false)));
        var forward = Sys.Scheduler.ScheduleTellRepeatedlyCancelable(TimeSpan.Zero, TimeSpan.FromMilliseconds(50), connection, new ConnectionProtocol.ForwardToApp("x"u8.ToArray(), ConnectionProtocol.FrameKind.Text, 0, 0), ActorRefs.NoSender);
        var heartbeats = Sys.Scheduler.ScheduleTellRepeatedlyCancelable(TimeSpan.FromMilliseconds(25), TimeSpan.FromMilliseconds(50), connection, ConnectionProtocol.Heartbeat.Instance, ActorRefs.NoSender);

        await ExpectTerminatedAsync(connection, TimeSpan.FromSeconds(2));
        forward.Cancel();
        heartbeats.Cancel();

        Assert.Equal(new CloseRequest(4000, "ping timeout"), _outbox.Closes[0]);
    }

    [Fact]
    public async Task Without_a_ping_timeout_the_connection_has_no_deadline()
    {
        var connection = Watch(Start(TestIdentities.Jac("c1"), new ConnectionSettings(null, AnyFrameIsLiveness: false)));

        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(500));

        Assert.Empty(_outbox.Closes);
        connection.Tell(new ConnectionProtocol.Close(1000, "done"));
        await ExpectTerminatedAsync(connection);
    }

    [Fact]
    public async Task Close_closes_the_outbox_with_the_given_code_and_stops()
    {
        var connection = Watch(Start(TestIdentities.Tapr("c1"), NoDeadline));

        connection.Tell(new ConnectionProtocol.Close(4100, "kicked"));

        await ExpectTerminatedAsync(connection);
        Assert.Equal(new CloseRequest(4100, "kicked"), _outbox.Closes[0]);
        Assert.All(_outbox.Closes, close => Assert.Equal(new CloseRequest(4100, "kicked"), close));
    }

    [Fact]
    public async Task SocketClosed_stops_the_actor_and_PostStop_closes_the_outbox_with_the_socket_code()
    {
        var connection = Watch(Start(TestIdentities.Tapr("c1"), NoDeadline));

        connection.Tell(new ConnectionProtocol.SocketClosed(1001, "going away"));

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
                connection.Tell(new ConnectionProtocol.Close(1000, "bye"));
                break;
            case "socket-closed":
                connection.Tell(new ConnectionProtocol.SocketClosed(1006, "lost"));
                break;
            case "poison-pill":
                connection.Tell(PoisonPill.Instance);
                break;
            case "stop":
                Sys.Stop(connection);
                break;
            case "close-twice-then-socket-closed":
                connection.Tell(new ConnectionProtocol.Close(1000, "bye"));
                connection.Tell(new ConnectionProtocol.Close(4001, "again"));
                connection.Tell(new ConnectionProtocol.SocketClosed(1000, "bye"));
                break;
        }

        await ExpectTerminatedAsync(connection, TimeSpan.FromSeconds(2));
        var closed = await _callbacks.ExpectMsgAsync<CallbackProtocol.ConnectionClosed>();
        Assert.Same(identity, closed.Identity);
        await _callbacks.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(200));
    }

    private IActorRef Start(ConnectionIdentity identity, ConnectionSettings settings) =>
        Sys.ActorOf(ConnectionActor.Props(identity, _outbox, _flow, _callbacks.Ref, settings), identity.Id.Value);
}
