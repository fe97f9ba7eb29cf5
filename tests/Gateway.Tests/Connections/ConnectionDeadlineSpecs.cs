using System.Diagnostics;
using Gateway.Callbacks;
using Gateway.Connections;
using Gateway.Tests.WebSockets;
using Gateway.WebSockets;

namespace Gateway.Tests.Connections;

/// <summary>The ping deadline (PROTOCOL.md §3): apart from the other connection specs so their waits run in parallel.</summary>
public sealed class ConnectionDeadlineSpecs : TestKit
{
    // Liveness is told every 50 ms (25 ms for heartbeats), which Akka's 50 ms scheduler ticks turn into 50-100 ms apart:
    // a deadline of 500 ms tolerates a scheduling gap of about 400 ms on a loaded machine before a spec that expects
    // the connection alive sees it closed.
    private static readonly TimeSpan Timeout = TimeSpan.FromMilliseconds(500);

    private readonly TestProbe _callbacks;
    private readonly RecordingOutbox _outbox = new();

    public ConnectionDeadlineSpecs()
        : base(SpecConfig.Akka)
    {
        _callbacks = CreateTestProbe("callbacks");
    }

    [Fact]
    public async Task Without_liveness_the_connection_is_closed_with_4000_ping_timeout_after_the_timeout()
    {
        var started = Stopwatch.GetTimestamp();
        var connection = Watch(Start(new ConnectionSettings(Timeout, AnyFrameIsLiveness: true)));

        await ExpectTerminatedAsync(connection, TimeSpan.FromSeconds(3));

        Assert.True(Stopwatch.GetElapsedTime(started) >= Timeout, "closed before the timeout");
        Assert.Equal(new CloseRequest(4000, "ping timeout"), _outbox.Closes[0]);
        Assert.All(_outbox.Closes, close => Assert.Equal(4000, close.Code));
        await _callbacks.ExpectMsgAsync<CallbackProtocol.ConnectionOpened>();
        await _callbacks.ExpectMsgAsync<CallbackProtocol.ConnectionClosed>();
    }

    [Fact]
    public async Task Pings_keep_the_connection_alive_past_several_timeouts()
    {
        var connection = Watch(Start(new ConnectionSettings(Timeout, AnyFrameIsLiveness: false)));
        var pings = Every(TimeSpan.Zero, connection, ConnectionProtocol.Ping.Instance);

        await ExpectNoMsgAsync(Timeout * 4);
        Assert.Empty(_outbox.Closes);
        Assert.True(_outbox.Sent.Count >= 8, $"only {_outbox.Sent.Count} pongs");

        pings.Cancel();
        await ExpectTerminatedAsync(connection, TimeSpan.FromSeconds(3));
        Assert.Equal(new CloseRequest(4000, "ping timeout"), _outbox.Closes[0]);
    }

    [Fact]
    public async Task Frames_and_protocol_heartbeats_keep_the_connection_alive_when_any_frame_is_liveness()
    {
        var connection = Watch(Start(new ConnectionSettings(Timeout, AnyFrameIsLiveness: true)));
        var frames = Every(TimeSpan.Zero, connection, new ConnectionProtocol.ForwardToApp("x"u8.ToArray(), ConnectionProtocol.FrameKind.Text, 0, 0));
        var heartbeats = Every(TimeSpan.FromMilliseconds(25), connection, ConnectionProtocol.Heartbeat.Instance);

        await ExpectNoMsgAsync(Timeout * 3);
        frames.Cancel();
        await ExpectNoMsgAsync(Timeout * 2);
        Assert.Empty(_outbox.Closes);

        heartbeats.Cancel();
        await ExpectTerminatedAsync(connection, TimeSpan.FromSeconds(3));
        Assert.Equal(new CloseRequest(4000, "ping timeout"), _outbox.Closes[0]);
    }

    [Fact]
    public async Task Frames_and_protocol_heartbeats_are_not_liveness_unless_configured()
    {
        var started = Stopwatch.GetTimestamp();
        var connection = Watch(Start(new ConnectionSettings(Timeout, AnyFrameIsLiveness: false)));
        var frames = Every(TimeSpan.Zero, connection, new ConnectionProtocol.ForwardToApp("x"u8.ToArray(), ConnectionProtocol.FrameKind.Text, 0, 0));
        var heartbeats = Every(TimeSpan.FromMilliseconds(25), connection, ConnectionProtocol.Heartbeat.Instance);

        await ExpectTerminatedAsync(connection, TimeSpan.FromSeconds(3));
        frames.Cancel();
        heartbeats.Cancel();

        Assert.True(Stopwatch.GetElapsedTime(started) < Timeout * 3, "the deadline moved");
        Assert.Equal(new CloseRequest(4000, "ping timeout"), _outbox.Closes[0]);
    }

    [Fact]
    public async Task Without_a_ping_timeout_the_connection_has_no_deadline()
    {
        var connection = Watch(Start(new ConnectionSettings(null, AnyFrameIsLiveness: false), TestIdentities.Jac("c1")));

        await ExpectNoMsgAsync(Timeout * 2);

        Assert.Empty(_outbox.Closes);
        connection.Tell(new ConnectionProtocol.Close(1000, "done"), TestActor);
        await ExpectTerminatedAsync(connection);
    }

    [Fact]
    public async Task While_backpressure_holds_the_socket_back_the_deadline_does_not_close_it()
    {
        // The read loop is parked by backpressure: the client's pings may be waiting unread behind its data.
        var flow = TestIdentities.Flow();
        flow.HoldsBackReading = true;
        var connection = Watch(Start(new ConnectionSettings(Timeout, AnyFrameIsLiveness: false), flow: flow));

        await ExpectNoMsgAsync(Timeout * 3);
        Assert.Empty(_outbox.Closes);

        // Reading resumes and nothing comes: now the deadline judges.
        flow.HoldsBackReading = false;
        await ExpectTerminatedAsync(connection, TimeSpan.FromSeconds(3));
        Assert.Equal(new CloseRequest(4000, "ping timeout"), _outbox.Closes[0]);
    }

    [Fact]
    public async Task A_budget_full_of_other_clients_partial_messages_does_not_suspend_the_deadline()
    {
        // Clients that fill the shared budget with half-sent messages must not keep every socket, their own
        // included, from ever being judged: only a read loop that is itself parked is exempt.
        var flow = TestIdentities.Flow();
        flow.Budget.AddPartial(flow.Budget.Limit);
        Assert.False(flow.Budget.HasRoomForPartial);
        var connection = Watch(Start(new ConnectionSettings(Timeout, AnyFrameIsLiveness: false), flow: flow));

        await ExpectTerminatedAsync(connection, TimeSpan.FromSeconds(3));
        Assert.Equal(new CloseRequest(4000, "ping timeout"), _outbox.Closes[0]);
    }

    private IActorRef Start(ConnectionSettings settings, ConnectionIdentity? identity = null, InboundFlow? flow = null)
    {
        identity ??= TestIdentities.Tapr("c1");
        var actor = Sys.ActorOf(ConnectionActor.Props(identity, _outbox, flow ?? TestIdentities.Flow(), _callbacks.Ref, settings), identity.Id.Value);
        _outbox.ReportsTo = actor;
        return actor;
    }

    /// <summary>Tells <paramref name="message"/> to <paramref name="connection"/> every 50 ms, as a client would keep sending.</summary>
    private ICancelable Every(TimeSpan initialDelay, IActorRef connection, object message) =>
        Sys.Scheduler.ScheduleTellRepeatedlyCancelable(initialDelay, TimeSpan.FromMilliseconds(50), connection, message, ActorRefs.NoSender);
}
