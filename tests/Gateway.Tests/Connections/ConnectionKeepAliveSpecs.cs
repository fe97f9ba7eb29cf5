using Gateway.Callbacks;
using Gateway.Connections;
using Gateway.Tests.WebSockets;
using Gateway.WebSockets;

namespace Gateway.Tests.Connections;

/// <summary>Protocol keep-alive (PROTOCOL.md §5 liveness, issue 10 finding 6): pings on the shared scheduler, 4000 when unanswered.</summary>
public sealed class ConnectionKeepAliveSpecs : TestKit
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(150);

    private readonly TestProbe _callbacks;
    private readonly RecordingOutbox _outbox = new();

    public ConnectionKeepAliveSpecs()
        : base(SpecConfig.Akka)
    {
        _callbacks = CreateTestProbe("callbacks");
    }

    [Fact]
    public async Task An_unanswered_keep_alive_ping_closes_the_connection_with_4000_and_the_app_gets_close()
    {
        var connection = Watch(Start(Interval, Interval));

        await ExpectTerminatedAsync(connection, Dilated(TimeSpan.FromSeconds(2)));

        var ping = Assert.Single(_outbox.Messages);
        Assert.Equal(Opcode.Ping, ping.Opcode);
        Assert.Equal(0, ping.Payload.Length);
        Assert.Equal(new CloseRequest(4000, "ping timeout"), _outbox.Closes[0]);
        await _callbacks.ExpectMsgAsync<CallbackProtocol.ConnectionOpened>();
        await _callbacks.ExpectMsgAsync<CallbackProtocol.ConnectionClosed>();
    }

    [Fact]
    public async Task An_unanswered_ping_does_not_close_a_socket_that_backpressure_holds_back()
    {
        var flow = TestIdentities.Flow();
        flow.HoldsBackReading = true; // the read loop is parked by backpressure: the pong may be unread
        var connection = Watch(Start(Interval, Interval, flow));

        await ExpectNoMsgAsync(Interval * 5);
        Assert.Empty(_outbox.Closes);

        flow.HoldsBackReading = false;
        await ExpectTerminatedAsync(connection, Dilated(TimeSpan.FromSeconds(3)));
        Assert.Equal(new CloseRequest(4000, "ping timeout"), _outbox.Closes[0]);
    }

    [Fact]
    public async Task Answered_pings_keep_the_connection_open_and_keep_coming()
    {
        var connection = Watch(Start(Interval, Interval));
        var pongs = Sys.Scheduler.ScheduleTellRepeatedlyCancelable(TimeSpan.Zero, TimeSpan.FromMilliseconds(40), connection, ConnectionProtocol.Heartbeat.Instance, ActorRefs.NoSender);

        // Akka's scheduler ticks every 50 ms (AkkaSetup), so each 150 ms keep-alive arrives up to ~100 ms late: eight
        // intervals hold at least four pings.
        await ExpectNoMsgAsync(Dilated(Interval * 8));

        Assert.Empty(_outbox.Closes);
        Assert.True(_outbox.Messages.Count(m => m.Opcode == Opcode.Ping) >= 3, $"only {_outbox.Messages.Count} pings in eight intervals");
        pongs.Cancel();
        await ExpectTerminatedAsync(connection, Dilated(TimeSpan.FromSeconds(2)));
    }

    [Fact]
    public async Task Without_an_interval_no_ping_is_ever_sent()
    {
        var connection = Watch(Start(null, Interval));

        await ExpectNoMsgAsync(Dilated(Interval * 3));

        Assert.Empty(_outbox.Messages);
        Assert.Empty(_outbox.Closes);
        connection.Tell(new ConnectionProtocol.Close(1000, "done"), TestActor);
        await ExpectTerminatedAsync(connection);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void A_zero_or_negative_interval_turns_keep_alive_off(int seconds)
    {
        Assert.Null(ConnectionSettings.KeepAlive(TimeSpan.FromSeconds(seconds)));
        Assert.Equal(TimeSpan.FromSeconds(20), ConnectionSettings.KeepAlive(TimeSpan.FromSeconds(20)));
    }

    private IActorRef Start(TimeSpan? interval, TimeSpan timeout, InboundFlow? flow = null)
    {
        var identity = TestIdentities.Jac("k1");
        var settings = new ConnectionSettings(null, AnyFrameIsLiveness: false) { KeepAliveInterval = interval, KeepAliveTimeout = timeout };
        var actor = Sys.ActorOf(ConnectionActor.Props(identity, _outbox, flow ?? TestIdentities.Flow(), _callbacks.Ref, settings), "k1");
        _outbox.ReportsTo = actor;
        return actor;
    }
}
