using System.Diagnostics;
using System.Text;
using Gateway.Callbacks;
using Gateway.Connections;
using Gateway.Tests.Connections;
using Gateway.WebSockets;
using static Gateway.Callbacks.CallbackProtocol;

namespace Gateway.Tests.Callbacks;

public sealed class CallbackActorSpecs : TestKit
{
    public CallbackActorSpecs()
        : base(SpecConfig.Akka)
    {
    }

    private static readonly CallbackSettings Fast = new(TimeSpan.FromSeconds(2), TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(100), MaxConcurrency: 4);

    private readonly ScriptedCallbackClient _app = new();

    [Fact]
    public async Task A_connection_events_are_delivered_in_order_one_at_a_time_even_while_an_attempt_is_held()
    {
        var callbacks = Start(_app, Fast);
        var c1 = TestIdentities.Tapr("c1");
        var gate = Gate();
        _app.ScriptFor("c1", ScriptedReply.Delivered(hold: gate));

        callbacks.Tell(new ConnectionOpened(c1), TestActor);
        callbacks.Tell(Message(c1, "{\"n\":1}"), TestActor);
        callbacks.Tell(Message(c1, "{\"n\":2}"), TestActor);
        callbacks.Tell(new ConnectionClosed(c1), TestActor);

        await AwaitAssertAsync(async () => Assert.Equal(new CallbackStats(PendingEvents: 4, Connections: 1, InFlight: 1), await StatsAsync(callbacks)));
        Assert.Equal(["open"], _app.Calls.Select(c => c.Action));

        gate.SetResult();
        await DrainedAsync(callbacks);
        Assert.Equal(["open", "message", "message", "close"], _app.Calls.Select(c => c.Action));
        Assert.Equal(["open", "message", "message", "close"], _app.Delivered.Select(c => c.Action));
        Assert.Equal(["{\"n\":1}", "{\"n\":2}"], _app.Delivered.Where(c => c.Action == "message").Select(c => c.Data));
        Assert.Equal(1, _app.MaxInFlight);
    }

    [Fact]
    public async Task Different_connections_are_delivered_in_parallel_up_to_the_concurrency_limit()
    {
        var callbacks = Start(_app, Fast with { MaxConcurrency = 2 });
        var gates = new Dictionary<string, TaskCompletionSource>();
        foreach (var id in new[] { "a", "b", "c" })
        {
            gates[id] = Gate();
            _app.ScriptFor(id, ScriptedReply.Delivered(hold: gates[id]));
        }

        callbacks.Tell(new ConnectionOpened(TestIdentities.Tapr("a")), TestActor);
        callbacks.Tell(new ConnectionOpened(TestIdentities.Tapr("b")), TestActor);
        callbacks.Tell(new ConnectionOpened(TestIdentities.Tapr("c")), TestActor);

        // Attempts start in the delivery stream, a moment after the actor has handed them over.
        await AwaitAssertAsync(async () => Assert.Equal(new CallbackStats(PendingEvents: 3, Connections: 3, InFlight: 2), await StatsAsync(callbacks)));
        Assert.Equal(["a", "b"], _app.Calls.Select(c => c.ConnId));
        Assert.Equal(2, _app.InFlight);

        gates["b"].SetResult();
        await AwaitAssertAsync(() => Assert.Equal(["a", "b", "c"], _app.Calls.Select(c => c.ConnId)));
        Assert.Equal(2, (await StatsAsync(callbacks)).InFlight);

        gates["a"].SetResult();
        gates["c"].SetResult();
        await DrainedAsync(callbacks);
        Assert.Equal(2, _app.MaxInFlight);
        Assert.Equal(new CallbackStats(0, 0, 0), await StatsAsync(callbacks));
    }

    [Fact]
    public async Task A_waiting_connection_gets_a_free_slot_while_another_waits_to_retry()
    {
        var callbacks = Start(_app, Fast with { RetryBaseDelay = TimeSpan.FromMilliseconds(300), MaxConcurrency = 1 });
        _app.ScriptFor("c1", ScriptedReply.Transient());

        callbacks.Tell(new ConnectionOpened(TestIdentities.Tapr("c1")), TestActor);
        callbacks.Tell(new ConnectionOpened(TestIdentities.Tapr("c2")), TestActor);

        await DrainedAsync(callbacks);
        Assert.Equal(["c1", "c2", "c1"], _app.Calls.Select(c => c.ConnId));
        Assert.Equal(["c2", "c1"], _app.Delivered.Select(c => c.ConnId));
    }

    [Fact]
    public async Task Transient_failures_are_retried_with_growing_delays_until_delivered_and_nothing_is_lost_or_reordered()
    {
        var callbacks = Start(_app, Fast);
        var c1 = TestIdentities.Tapr("c1");
        var c2 = TestIdentities.Tapr("c2");
        _app.ScriptFor(
            "c1",
            ScriptedReply.Transient(),
            ScriptedReply.Transient(),
            ScriptedReply.Faulted(new HttpRequestException("connection refused")),
            ScriptedReply.Delivered(),
            ScriptedReply.Transient(),
            ScriptedReply.Delivered(),
            ScriptedReply.Delivered(),
            ScriptedReply.Transient(),
            ScriptedReply.Delivered());

        callbacks.Tell(new ConnectionOpened(c1), TestActor);
        callbacks.Tell(new ConnectionOpened(c2), TestActor);
        callbacks.Tell(Message(c1, "{\"n\":1}"), TestActor);
        callbacks.Tell(Message(c2, "{\"m\":1}"), TestActor);
        callbacks.Tell(Message(c1, "{\"n\":2}"), TestActor);
        callbacks.Tell(new ConnectionClosed(c1), TestActor);
        callbacks.Tell(new ConnectionClosed(c2), TestActor);

        await DrainedAsync(callbacks);
        var c1Calls = _app.Calls.Where(c => c.ConnId == "c1").ToList();
        Assert.Equal(["open", "open", "open", "open", "message", "message", "message", "close", "close"], c1Calls.Select(c => c.Action));
        Assert.Equal(["open", "message", "message", "close"], _app.Delivered.Where(c => c.ConnId == "c1").Select(c => c.Action));
        Assert.Equal(["{\"n\":1}", "{\"n\":2}"], _app.Delivered.Where(c => c.ConnId == "c1" && c.Action == "message").Select(c => c.Data));
        Assert.Equal(["open", "message", "close"], _app.Delivered.Where(c => c.ConnId == "c2").Select(c => c.Action));
        Assert.Single(c1Calls.Select(c => c.Body).Where(b => b.Contains("\"open\"", StringComparison.Ordinal)).Distinct());

        // Backoff: 20 ms, 40 ms, 80 ms, each -20 % at worst; a timer never fires early.
        var gaps = c1Calls.Take(4).Zip(c1Calls.Skip(1).Take(3), (a, b) => Stopwatch.GetElapsedTime(a.StartedAt, b.StartedAt)).ToList();
        Assert.True(gaps[0] >= TimeSpan.FromMilliseconds(16), $"first retry after {gaps[0]}");
        Assert.True(gaps[1] >= TimeSpan.FromMilliseconds(32), $"second retry after {gaps[1]}");
        Assert.True(gaps[2] >= TimeSpan.FromMilliseconds(64), $"third retry after {gaps[2]}");
    }

    [Fact]
    public async Task The_retry_delay_is_capped()
    {
        var callbacks = Start(_app, Fast with { RetryBaseDelay = TimeSpan.FromMilliseconds(10), RetryMaxDelay = TimeSpan.FromMilliseconds(20) });
        _app.ScriptFor("c1", [.. Enumerable.Repeat(ScriptedReply.Transient(), 12)]);

        callbacks.Tell(new ConnectionOpened(TestIdentities.Tapr("c1")), TestActor);

        // Uncapped, twelve doublings from 10 ms would take over 40 s.
        await DrainedAsync(callbacks, TimeSpan.FromSeconds(5));
        Assert.Equal(13, _app.Calls.Count);
    }

    [Fact]
    public async Task A_rejected_event_is_not_retried_and_the_next_one_follows()
    {
        var callbacks = Start(_app, Fast);
        var c1 = TestIdentities.Tapr("c1");
        var flow = TestIdentities.Flow();
        _app.ScriptFor("c1", ScriptedReply.Delivered(), ScriptedReply.Rejected(), ScriptedReply.Delivered());

        callbacks.Tell(new ConnectionOpened(c1), TestActor);
        callbacks.Tell(Message(c1, "{\"bad\":true}", flow), TestActor);
        callbacks.Tell(new ConnectionClosed(c1), TestActor);

        await DrainedAsync(callbacks);
        Assert.Equal(["open", "message", "close"], _app.Calls.Select(c => c.Action));
        Assert.Equal(0, flow.Pending);
    }

    [Fact]
    public async Task Inbound_flow_bytes_are_released_only_when_the_message_is_done()
    {
        var callbacks = Start(_app, Fast);
        var c1 = TestIdentities.Tapr("c1");
        var flow = TestIdentities.Flow();
        var gate = Gate();
        _app.ScriptFor("c1", ScriptedReply.Transient(), ScriptedReply.Delivered(hold: gate));

        var message = Message(c1, "{\"payload\":\"0123456789\"}", flow);
        callbacks.Tell(message, TestActor);

        await AwaitAssertAsync(() => Assert.Equal(2, _app.Calls.Count));
        Assert.Equal(message.Message.Frame.Length, flow.Pending);

        gate.SetResult();
        await DrainedAsync(callbacks);
        Assert.Equal(0, flow.Pending);
    }

    [Fact]
    public async Task Await_drained_replies_once_everything_is_delivered()
    {
        var callbacks = Start(_app, Fast);
        var other = CreateTestProbe();
        var gate = Gate();
        _app.ScriptFor("c1", ScriptedReply.Delivered(hold: gate));
        callbacks.Tell(new ConnectionOpened(TestIdentities.Tapr("c1")), TestActor);
        callbacks.Tell(new ConnectionOpened(TestIdentities.Tapr("c2")), TestActor);

        callbacks.Tell(AwaitDrained.Instance, TestActor);
        callbacks.Tell(AwaitDrained.Instance, other.Ref);
        callbacks.Tell(GetStats.Instance, TestActor);

        // Replies to one sender keep their order: a Drained sent too early would come before the stats.
        Assert.InRange((await ExpectMsgAsync<CallbackStats>()).PendingEvents, 1, 2);
        gate.SetResult();
        await ExpectMsgAsync<Drained>();
        await other.ExpectMsgAsync<Drained>();
        Assert.Equal(2, _app.Delivered.Count);
    }

    [Fact]
    public async Task Await_drained_replies_at_once_when_nothing_is_pending()
    {
        var callbacks = Start(_app, Fast);

        callbacks.Tell(AwaitDrained.Instance, TestActor);

        await ExpectMsgAsync<Drained>();
    }

    [Fact]
    public async Task The_connection_cookie_goes_with_every_action()
    {
        var callbacks = Start(_app, Fast);
        var c1 = TestIdentities.Tapr("c1", cookie: "auth_token=abc; theme=dark");
        var c2 = TestIdentities.Tapr("c2");

        callbacks.Tell(new ConnectionOpened(c1), TestActor);
        callbacks.Tell(Message(c1, "{}"), TestActor);
        callbacks.Tell(new ConnectionClosed(c1), TestActor);
        callbacks.Tell(new ConnectionOpened(c2), TestActor);

        await DrainedAsync(callbacks);
        Assert.Equal(["auth_token=abc; theme=dark", "auth_token=abc; theme=dark", "auth_token=abc; theme=dark"], _app.Calls.Where(c => c.ConnId == "c1").Select(c => c.Cookie));
        Assert.Equal(string.Empty, _app.Calls.Single(c => c.ConnId == "c2").Cookie);
        Assert.All(_app.Calls.Where(c => c.ConnId == "c1"), call => Assert.False(call.ReadBody));
        Assert.All(_app.Calls, call => Assert.Equal(Fast.AttemptTimeout, call.Timeout));
    }

    [Fact]
    public async Task With_callbacks_disabled_events_are_done_at_once_and_release_their_flow()
    {
        var app = new ScriptedCallbackClient(target: null);
        var callbacks = Start(app, Fast);
        var c1 = TestIdentities.Tapr("c1");
        var flow = TestIdentities.Flow();
        var walkerReplies = CreateTestProbe();

        callbacks.Tell(new ConnectionOpened(c1), TestActor);
        callbacks.Tell(Message(c1, "{\"n\":1}", flow), TestActor);
        callbacks.Tell(Walker(c1, flow, walkerReplies.Ref), TestActor);
        callbacks.Tell(new ConnectionClosed(c1), TestActor);

        Assert.Equal(new CallbackStats(0, 0, 0), await StatsAsync(callbacks));
        Assert.Equal(0, flow.Pending);
        Assert.Empty(app.Calls);
        await walkerReplies.ExpectMsgAsync<WalkerFailed>();
        await DrainedAsync(callbacks);
    }

    [Fact]
    public async Task A_walker_with_a_reply_target_gets_the_app_response_body()
    {
        var callbacks = Start(_app, Fast);
        var c1 = TestIdentities.Tapr("c1");
        var flow = TestIdentities.Flow();
        var replies = CreateTestProbe();
        _app.ScriptFor("c1", ScriptedReply.Delivered("{\"reports\":[42]}"));

        callbacks.Tell(Walker(c1, flow, replies.Ref, TimeSpan.FromSeconds(7)), TestActor);

        var replied = await replies.ExpectMsgAsync<WalkerReplied>();
        Assert.Equal("{\"reports\":[42]}", Encoding.UTF8.GetString(replied.Body));
        var call = Assert.Single(_app.Calls);
        Assert.True(call.ReadBody);
        // The one attempt gets what is left of the walker's time, counted from its arrival (not the attempt timeout;
        // the lower bound leaves a stalled machine up to 4 s between the arrival and the attempt).
        Assert.InRange(call.Timeout, TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(7));
        Assert.Equal("message", call.Action);
        await DrainedAsync(callbacks);
        Assert.Equal(0, flow.Pending);
    }

    [Fact]
    public async Task A_busy_connection_takes_its_turn_behind_connections_already_waiting_for_a_slot()
    {
        // One slot: while a's first event is held, b arrives and waits; a's next event must not jump ahead of b.
        var callbacks = Start(_app, Fast with { MaxConcurrency = 1 });
        var a = TestIdentities.Tapr("a");
        var b = TestIdentities.Tapr("b");
        var gate = Gate();
        _app.ScriptFor("a", ScriptedReply.Delivered(hold: gate));

        callbacks.Tell(new ConnectionOpened(a), TestActor);
        callbacks.Tell(Message(a, "{\"n\":1}"), TestActor);
        callbacks.Tell(new ConnectionOpened(b), TestActor);
        await AwaitAssertAsync(async () => Assert.Equal(3, (await StatsAsync(callbacks)).PendingEvents));
        gate.SetResult();
        await DrainedAsync(callbacks);

        Assert.Equal(["a:open", "b:open", "a:message"], _app.Calls.Select(c => $"{c.ConnId}:{c.Action}"));
    }

    [Fact]
    public async Task A_walker_queued_behind_a_held_callback_fails_within_its_timeout_and_is_never_sent()
    {
        var callbacks = Start(_app, Fast);
        var c1 = TestIdentities.Tapr("c1");
        var gate = Gate();
        _app.ScriptFor("c1", ScriptedReply.Delivered(hold: gate));
        var replies = CreateTestProbe();

        callbacks.Tell(new ConnectionOpened(c1), TestActor);
        callbacks.Tell(Walker(c1, TestIdentities.Flow(), replies.Ref, TimeSpan.FromMilliseconds(300)), TestActor);

        var failed = await replies.ExpectMsgAsync<WalkerFailed>(TimeSpan.FromSeconds(2));
        Assert.Contains("timed out", failed.Reason, StringComparison.Ordinal);
        gate.SetResult();
        await DrainedAsync(callbacks);
        Assert.DoesNotContain(_app.Calls, call => call.Action == "message");
        await replies.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public async Task A_walker_answered_without_a_body_replies_with_an_empty_body()
    {
        var callbacks = Start(_app, Fast);
        var replies = CreateTestProbe();

        callbacks.Tell(Walker(TestIdentities.Tapr("c1"), TestIdentities.Flow(), replies.Ref), TestActor);

        Assert.Empty((await replies.ExpectMsgAsync<WalkerReplied>()).Body);
    }

    [Theory]
    [InlineData("transient")]
    [InlineData("rejected")]
    public async Task A_walker_with_a_reply_target_fails_at_once_without_retry(string outcome)
    {
        var callbacks = Start(_app, Fast);
        var c1 = TestIdentities.Tapr("c1");
        var flow = TestIdentities.Flow();
        var replies = CreateTestProbe();
        _app.ScriptFor("c1", outcome == "transient" ? ScriptedReply.Transient() : ScriptedReply.Rejected(), ScriptedReply.Delivered());

        callbacks.Tell(Walker(c1, flow, replies.Ref), TestActor);
        callbacks.Tell(new ConnectionClosed(c1), TestActor);

        var failed = await replies.ExpectMsgAsync<WalkerFailed>();
        Assert.False(string.IsNullOrEmpty(failed.Reason));
        await DrainedAsync(callbacks);
        Assert.Equal(["message", "close"], _app.Calls.Select(c => c.Action));
        Assert.Equal(0, flow.Pending);
        await replies.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public async Task A_walker_without_a_reply_target_is_an_ordinary_message_and_is_retried()
    {
        var callbacks = Start(_app, Fast);
        _app.ScriptFor("c1", ScriptedReply.Transient(), ScriptedReply.Delivered());

        callbacks.Tell(Walker(TestIdentities.Tapr("c1"), TestIdentities.Flow(), replyTo: null, TimeSpan.FromSeconds(7)), TestActor);

        await DrainedAsync(callbacks);
        Assert.Equal(2, _app.Calls.Count);
        Assert.All(_app.Calls, call =>
        {
            Assert.False(call.ReadBody);
            Assert.Equal(Fast.AttemptTimeout, call.Timeout);
        });
    }

    [Fact]
    public async Task The_same_connection_can_stream_again_after_it_drained()
    {
        var callbacks = Start(_app, Fast);
        var c1 = TestIdentities.Tapr("c1");

        callbacks.Tell(new ConnectionOpened(c1), TestActor);
        await DrainedAsync(callbacks);
        Assert.Equal(new CallbackStats(0, 0, 0), await StatsAsync(callbacks));
        callbacks.Tell(Message(c1, "{\"later\":1}"), TestActor);
        callbacks.Tell(new ConnectionClosed(c1), TestActor);

        await DrainedAsync(callbacks);
        Assert.Equal(["open", "message", "close"], _app.Delivered.Select(c => c.Action));
    }

    private IActorRef Start(ScriptedCallbackClient client, CallbackSettings settings) =>
        Sys.ActorOf(CallbackActor.Props(client, settings, NullLogger<CallbackActor>.Instance), "callbacks");

    private static TaskCompletionSource Gate() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>A JSON-object frame, counted against <paramref name="flow"/> as the read loop counts it.</summary>
    private static MessageReceived Message(ConnectionIdentity identity, string json, InboundFlow? flow = null)
    {
        flow ??= TestIdentities.Flow();
        var frame = Encoding.UTF8.GetBytes(json);
        flow.Acquire(frame.Length);
        return new MessageReceived(identity, new ConnectionProtocol.ForwardToApp(frame, ConnectionProtocol.FrameKind.JsonObject, 0, frame.Length), flow);
    }

    private static WalkerReceived Walker(ConnectionIdentity identity, InboundFlow flow, IActorRef? replyTo, TimeSpan? timeout = null)
    {
        var frame = "{\"type\":\"walker\",\"walker\":\"hello\",\"response\":true}"u8.ToArray();
        flow.Acquire(frame.Length);
        return new WalkerReceived(identity, new ConnectionProtocol.ForwardToApp(frame, ConnectionProtocol.FrameKind.JsonObject, 0, frame.Length), flow, replyTo, timeout ?? TimeSpan.FromSeconds(5));
    }

    // Generous: the first spec in a process also waits for Akka.Streams to start (JIT on a loaded machine).
    private Task<CallbackStats> StatsAsync(IActorRef callbacks) => callbacks.Ask<CallbackStats>(GetStats.Instance, Dilated(TimeSpan.FromSeconds(10)));

    private async Task DrainedAsync(IActorRef callbacks, TimeSpan? timeout = null) =>
        await callbacks.Ask<Drained>(AwaitDrained.Instance, timeout ?? Dilated(TimeSpan.FromSeconds(10)));
}
