using Gateway.Connections;
using Gateway.Hosting;
using Gateway.Registry;
using Gateway.Tests.Connections;
using Gateway.Tests.WebSockets;
using Gateway.Users;
using Gateway.WebSockets;
using Microsoft.Extensions.DependencyInjection;
using static Gateway.Registry.RegistryProtocol;

namespace Gateway.Tests.Registry;

public sealed class RegistryActorSpecs : TestKit
{
    private static readonly ConnectionSettings NoDeadline = new(null, AnyFrameIsLiveness: true);

    private readonly TestProbe _callbacks;
    private IActorRef _registry;
    private readonly Dictionary<string, RecordingOutbox> _outboxes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, IActorRef> _connections = new(StringComparer.Ordinal);

    public RegistryActorSpecs()
        : base(SpecConfig.Akka)
    {
        _callbacks = CreateTestProbe("callbacks");
        _registry = Sys.ActorOf(RegistryActor.Props(_callbacks.Ref, NoDeadline, NoDeadline, NullLoggerFactory.Instance), "registry");
    }

    [Fact]
    public async Task Registering_a_connection_replies_with_the_attached_connection_actor_and_indexes_it()
    {
        var identity = TestIdentities.Tapr("c1", user: "alice", token: "t1");

        _registry.Tell(new RegisterConnection(identity, new RecordingOutbox(), TestIdentities.Flow()), TestActor);

        var attached = await ExpectMsgAsync<UserProtocol.ConnectionAttached>();
        Assert.Equal("c1", attached.Connection.Path.Name);
        Assert.Equal(new RegistryStats(1, 1, 1), await StatsAsync());
        var list = await ListAsync();
        var user = Assert.Single(list.Users);
        Assert.Equal("alice", user.Name);
        Assert.Same(identity, Assert.Single(user.Private));
        Assert.Empty(user.Public);
    }

    [Fact]
    public async Task The_list_groups_connections_by_user_in_ordinal_order_split_by_access_in_connection_order()
    {
        await RegisterAsync(TestIdentities.Tapr("z-2", user: "bob"));
        await RegisterAsync(TestIdentities.Tapr("a-1", user: "alice", accessPublic: true));
        await RegisterAsync(TestIdentities.Tapr("y-3", user: "Bob"));
        await RegisterAsync(TestIdentities.Tapr("b-4", user: "alice"));
        await RegisterAsync(TestIdentities.Tapr("x-5", user: "alice", accessPublic: true));

        var list = await ListAsync();

        Assert.Equal(["Bob", "alice", "bob"], list.Users.Select(u => u.Name));
        var alice = list.Users[1];
        Assert.Equal(["b-4"], alice.Private.Select(c => c.Id.Value));
        Assert.Equal(["a-1", "x-5"], alice.Public.Select(c => c.Id.Value));
        Assert.Equal(new RegistryStats(5, 3, 3), await StatsAsync());
    }

    [Fact]
    public async Task A_duplicate_connection_id_is_refused_and_the_first_connection_is_kept()
    {
        var first = TestIdentities.Tapr("c1", user: "alice");
        await RegisterAsync(first);

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            _registry.Ask<UserProtocol.ConnectionAttached>(new RegisterConnection(TestIdentities.Tapr("c1", user: "bob"), new RecordingOutbox(), TestIdentities.Flow()), RemainingOrDefault));

        Assert.Contains("c1", refused.Message, StringComparison.Ordinal);
        Assert.Equal(new RegistryStats(1, 1, 1), await StatsAsync());
        Assert.Same(first, Assert.Single(Assert.Single((await ListAsync()).Users).Private));
    }

    [Fact]
    public async Task An_ended_connection_leaves_no_index_entries_behind()
    {
        await RegisterAsync(TestIdentities.Tapr("c1", user: "alice", token: "t1", channel: "room"));
        await RegisterAsync(TestIdentities.Tapr("c2", user: "alice", token: "t2"));

        _connections["c1"].Tell(new ConnectionProtocol.SocketClosed(1000, "bye"), TestActor);

        await AwaitAssertAsync(async () => Assert.Equal(new RegistryStats(1, 1, 1), await StatsAsync()));
        Assert.Equal(new DeliveryReceipt(0, 0, 0), await SendAsync(new TargetFilter(ConnIds: ["c1"])));
        Assert.Equal(new DeliveryReceipt(0, 0, 0), await SendAsync(new TargetFilter(Tokens: ["t1"])));
        Assert.Equal(new DeliveryReceipt(0, 0, 0), await SendAsync(new TargetFilter(Tokens: [ConnectionIdentity.Md5Hex("t1")])));
        Assert.Equal(new DeliveryReceipt(0, 0, 0), await SendAsync(new TargetFilter(Channels: ["room"])));
        Assert.Equal(new DeliveryReceipt(1, 1, 0), await SendAsync(new TargetFilter(Users: ["alice"])));
        Assert.Equal(new DeliveryReceipt(1, 1, 0), await SendAsync(new TargetFilter(All: true)));
    }

    [Fact]
    public async Task The_indexes_match_reality_after_any_sequence_of_registers_and_ends()
    {
        var random = new Random(20250101);
        string[] users = ["alice", "bob", "carol", "n::000000000000000000000001"];
        var live = new Dictionary<string, ConnectionIdentity>(StringComparer.Ordinal);
        var next = 0;
        for (var step = 1; step <= 120; step++)
        {
            if (live.Count == 0 || random.NextDouble() < 0.55)
            {
                var id = $"conn-{next++}";
                var identity = TestIdentities.Tapr(id, user: users[random.Next(users.Length)], token: $"tok-{random.Next(6)}", accessPublic: random.Next(2) == 0, channel: random.Next(3) == 0 ? "room" : null);
                await RegisterAsync(identity);
                live.Add(id, identity);
            }
            else
            {
                var id = live.Keys.ElementAt(random.Next(live.Count));
                _connections[id].Tell(random.Next(2) == 0 ? new ConnectionProtocol.SocketClosed(1000, "bye") : new ConnectionProtocol.Close(1000, "bye"), TestActor);
                live.Remove(id);
            }

            if (step % 20 == 0)
            {
                await AwaitAssertAsync(() => AssertIndexesMatchAsync(live.Values, users));
            }
        }

        foreach (var id in live.Keys)
        {
            _connections[id].Tell(new ConnectionProtocol.SocketClosed(1000, "bye"), TestActor);
        }

        await AwaitAssertAsync(async () => Assert.Equal(new RegistryStats(0, 0, 0), await StatsAsync()));
        Assert.Empty((await ListAsync()).Users);
    }

    [Fact]
    public async Task An_id_can_be_registered_again_once_its_connection_has_ended()
    {
        await RegisterAsync(TestIdentities.Tapr("c1", user: "alice"));
        _connections["c1"].Tell(new ConnectionProtocol.SocketClosed(1000, "bye"), TestActor);
        await AwaitAssertAsync(async () => Assert.Equal(0, (await StatsAsync()).Connections));

        var again = TestIdentities.Tapr("c1", user: "alice");
        var outbox = await RegisterAsync(again);

        _connections["c1"].Tell(ConnectionProtocol.Ping.Instance, TestActor);
        await AwaitAssertAsync(() => Assert.Equal(["{\"event\":\"pong\"}"], outbox.Sent));
        Assert.Same(again, Assert.Single(Assert.Single((await ListAsync()).Users).Private));
    }

    [Theory]
    [InlineData("users=alice", "c1,c2")]
    [InlineData("users=alice;access=1", "c1")]
    [InlineData("users=alice;access=2", "c2")]
    [InlineData("users=alice,bob;access=2", "c2,c4")]
    [InlineData("users=alice,bob,alice", "c1,c2,c3,c4")]
    [InlineData("tokens=t1", "c1,c4")]
    [InlineData("tokens=md5:t1", "c1,c4")]
    [InlineData("tokens=t1,md5:t1", "c1,c4")]
    [InlineData("tokens=t1;access=2", "c1,c4")]
    [InlineData("users=alice;tokens=t1", "c1")]
    [InlineData("users=bob;tokens=t1;access=1", "")]
    [InlineData("users=alice,bob;tokens=t1;access=2", "c4")]
    [InlineData("users=alice,carol;channels=room", "")]
    [InlineData("channels=room;access=1", "c3,c4")]
    [InlineData("conns=c3", "c3")]
    [InlineData("conns=c3;users=alice", "")]
    [InlineData("conns=c3;users=bob", "c3")]
    [InlineData("conns=c3,c4;tokens=t1", "c4")]
    [InlineData("conns=ghost,c5", "c5")]
    [InlineData("channels=room", "c3,c4")]
    [InlineData("channels=room;users=bob;access=1", "c3")]
    [InlineData("channels=room,lobby;tokens=md5:t5", "c5")]
    [InlineData("users=nobody", "")]
    [InlineData("tokens=unknown", "")]
    [InlineData("all", "c1,c2,c3,c4,c5")]
    public async Task Sends_reach_exactly_the_intersection_of_the_given_filters(string filter, string expected)
    {
        await RegisterPopulationAsync();

        var receipt = await SendAsync(ParseFilter(filter), "{\"n\":1}");

        var targets = expected.Length == 0 ? [] : expected.Split(',');
        Assert.Equal(new DeliveryReceipt(targets.Length, targets.Length, 0), receipt);
        foreach (var (id, outbox) in _outboxes)
        {
            Assert.Equal(targets.Contains(id) ? ["{\"n\":1}"] : [], outbox.Sent);
        }
    }

    [Theory]
    [InlineData(16)]
    [InlineData(0)]
    public async Task The_frames_sends_and_routes_queue_to_this_nodes_sockets_are_counted_as_delivered(int corkSends)
    {
        using var meters = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var metrics = new GatewayMetrics(meters.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());
        _registry = Sys.ActorOf(RegistryActor.Props(_callbacks.Ref, NoDeadline, NoDeadline, NullLoggerFactory.Instance, corkSends, delivered: metrics.Deliver), "registry-counting");
        await RegisterPopulationAsync();
        _outboxes["c2"].Result = EnqueueResult.Closed; // refuses: matched, not delivered

        Assert.Equal(new DeliveryReceipt(2, 1, 1), await SendAsync(new TargetFilter(Users: ["alice"]), "{\"n\":1}"));
        _registry.Tell(new Route(RouteKind.Users, ["bob", "carol"], OutboundMessage.Text("{\"hello\":true}")), TestActor);
        await StatsAsync();

        Assert.Equal(1 + 3, metrics.Delivered);
    }

    [Fact]
    public async Task An_empty_filter_without_all_targets_nobody()
    {
        await RegisterPopulationAsync();

        Assert.Equal(new DeliveryReceipt(0, 0, 0), await SendAsync(new TargetFilter()));
        Assert.Equal(new DeliveryReceipt(0, 0, 0), await SendAsync(new TargetFilter(Users: [], UsersAccessType: 2)));
        Assert.All(_outboxes.Values, outbox => Assert.Empty(outbox.Sent));
    }

    [Fact]
    public async Task The_receipt_counts_matched_enqueued_and_dropped_targets()
    {
        await RegisterAsync(TestIdentities.Tapr("ok", user: "alice"));
        await RegisterAsync(TestIdentities.Tapr("slow", user: "alice"), new RecordingOutbox { Result = EnqueueResult.Overflow });
        await RegisterAsync(TestIdentities.Tapr("closing", user: "alice"), new RecordingOutbox { Result = EnqueueResult.Closed });
        await RegisterAsync(TestIdentities.Tapr("other", user: "bob"));

        var receipt = await SendAsync(new TargetFilter(Users: ["alice"]), "\"hi\"");

        Assert.Equal(new DeliveryReceipt(3, 1, 2), receipt);
        Assert.Equal(["\"hi\""], _outboxes["ok"].Sent);
        Assert.Empty(_outboxes["other"].Sent);
    }

    [Fact]
    public async Task A_send_shares_one_message_between_its_targets_and_keeps_its_opcode()
    {
        await RegisterAsync(TestIdentities.Tapr("c1", user: "alice"));
        await RegisterAsync(TestIdentities.Tapr("c2", user: "alice"));
        var message = OutboundMessage.Binary(new byte[] { 1, 2, 3 });

        _registry.Tell(new SendToConnections(new TargetFilter(Users: ["alice"]), message), TestActor);

        Assert.Equal(new DeliveryReceipt(2, 2, 0), await ExpectMsgAsync<DeliveryReceipt>());
        Assert.Same(message, Assert.Single(_outboxes["c1"].Messages));
        Assert.Same(message, Assert.Single(_outboxes["c2"].Messages));
    }

    [Fact]
    public async Task A_send_that_finds_nothing_else_waiting_is_written_and_uncorked_at_once()
    {
        var outbox = new RecordingOutbox { Corks = true };
        await RegisterAsync(TestIdentities.Tapr("c1", user: "alice"), outbox);
        await StatsAsync();

        Assert.Equal(new DeliveryReceipt(1, 1, 0), await SendAsync(new TargetFilter(Users: ["alice"]), "1"));

        await StatsAsync(); // answered after the send's uncork, which follows its receipt
        AssertCorkedAndUncorkedOnce(outbox);
        Assert.Equal(["1"], outbox.Sent);
    }

    [Fact]
    public async Task A_broadcast_to_more_sockets_than_one_thread_uncorks_uncorks_each_exactly_once()
    {
        // 1,000 outboxes: four of the chunks the registry hands to the sockets from more than one thread. Every
        // hundredth uncork throws, which must not keep any other outbox corked.
        var outboxes = Enumerable.Range(0, 1000)
            .Select(i => new RecordingOutbox { Corks = true, ThrowOnUncork = i % 100 == 7 ? new InvalidOperationException("boom") : null })
            .ToArray();
        for (var i = 0; i < outboxes.Length; i++)
        {
            await RegisterAsync(TestIdentities.Tapr($"c{i}", user: $"u{i % 10}"), outboxes[i]);
        }

        await StatsAsync();

        Assert.Equal(new DeliveryReceipt(1000, 1000, 0), await SendAsync(new TargetFilter(All: true), "1"));

        await StatsAsync(); // answered after the uncork, which returns once every thread is done
        Assert.All(outboxes, outbox =>
        {
            AssertCorkedAndUncorkedOnce(outbox);
            Assert.Equal(["1"], outbox.Sent);
        });
    }

    [Fact]
    public async Task A_burst_of_sends_corks_each_outbox_once_and_uncorks_it_after_the_burst()
    {
        var outboxes = new[] { new RecordingOutbox { Corks = true }, new RecordingOutbox { Corks = true } };
        await RegisterAsync(TestIdentities.Tapr("c1", user: "alice"), outboxes[0]);
        await RegisterAsync(TestIdentities.Tapr("c2", user: "alice"), outboxes[1]);
        using var hold = await HoldRegistryAsync();

        foreach (var payload in new[] { "1", "2", "3" })
        {
            _registry.Tell(new SendToConnections(new TargetFilter(Users: ["alice"]), OutboundMessage.Text(payload)), TestActor);
        }

        hold.Release();
        Assert.Equal(new DeliveryReceipt(1, 1, 0), await ExpectMsgAsync<DeliveryReceipt>()); // the holding send
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(new DeliveryReceipt(2, 2, 0), await ExpectMsgAsync<DeliveryReceipt>());
        }

        await StatsAsync(); // asked after the last receipt, so answered after the uncork queued behind the burst
        Assert.All(outboxes, outbox =>
        {
            AssertCorkedAndUncorkedOnce(outbox);
            Assert.Equal(["1", "2", "3"], outbox.Sent);
        });
    }

    [Fact]
    public async Task Held_sends_with_different_targets_reach_each_socket_in_the_order_they_were_sent_in_one_write()
    {
        var alice = new RecordingOutbox { Corks = true };
        var bob = new RecordingOutbox { Corks = true };
        await RegisterAsync(TestIdentities.Tapr("c1", user: "alice"), alice);
        await RegisterAsync(TestIdentities.Tapr("c2", user: "bob"), bob);
        using var hold = await HoldRegistryAsync();

        _registry.Tell(new SendToConnections(new TargetFilter(Users: ["alice", "bob"]), OutboundMessage.Text("1")), TestActor);
        _registry.Tell(new SendToConnections(new TargetFilter(Users: ["alice"]), OutboundMessage.Text("2")), TestActor);
        _registry.Tell(new SendToConnections(new TargetFilter(Users: ["alice", "bob"]), OutboundMessage.Text("3")), TestActor);
        hold.Release();

        await ExpectMsgAsync<DeliveryReceipt>(); // the holding send
        Assert.Equal(new DeliveryReceipt(2, 2, 0), await ExpectMsgAsync<DeliveryReceipt>());
        Assert.Equal(new DeliveryReceipt(1, 1, 0), await ExpectMsgAsync<DeliveryReceipt>());
        Assert.Equal(new DeliveryReceipt(2, 2, 0), await ExpectMsgAsync<DeliveryReceipt>());
        await StatsAsync();
        Assert.Equal(["1", "2", "3"], alice.Sent);
        Assert.Equal(["1", "3"], bob.Sent);
        Assert.Equal([3], alice.UncorkedBatches);
        Assert.Equal([2], bob.UncorkedBatches);
    }

    [Fact]
    public async Task A_close_behind_a_held_send_finds_the_send_written()
    {
        var outbox = new RecordingOutbox { Corks = true };
        await RegisterAsync(TestIdentities.Tapr("c1", user: "alice"), outbox);
        using var hold = await HoldRegistryAsync();

        _registry.Tell(new SendToConnections(new TargetFilter(Users: ["alice"]), OutboundMessage.Text("1")), TestActor);
        _registry.Tell(new CloseConnections(new TargetFilter(Users: ["alice"]), 4100, "kicked"), TestActor);
        hold.Release();

        await ExpectMsgAsync<DeliveryReceipt>(); // the holding send
        Assert.Equal(new DeliveryReceipt(1, 1, 0), await ExpectMsgAsync<DeliveryReceipt>());
        Assert.Equal(new ConnectionsClosed(1), await ExpectMsgAsync<ConnectionsClosed>());
        Assert.Equal(["1"], outbox.Sent);
        Assert.Equal(new CloseRequest(4100, "kicked"), outbox.Closes[0]);
    }

    [Fact]
    public async Task A_connection_registered_between_two_held_sends_gets_only_the_second()
    {
        var first = new RecordingOutbox { Corks = true };
        var second = new RecordingOutbox { Corks = true };
        await RegisterAsync(TestIdentities.Tapr("c1", user: "alice"), first);
        using var hold = await HoldRegistryAsync();

        _registry.Tell(new SendToConnections(new TargetFilter(Users: ["alice"]), OutboundMessage.Text("1")), TestActor);
        _registry.Tell(new RegisterConnection(TestIdentities.Tapr("c2", user: "alice"), second, TestIdentities.Flow()), TestActor);
        _registry.Tell(new SendToConnections(new TargetFilter(Users: ["alice"]), OutboundMessage.Text("2")), TestActor);
        hold.Release();

        await ExpectMsgAsync<DeliveryReceipt>(); // the holding send
        Assert.Equal(new DeliveryReceipt(1, 1, 0), await ExpectMsgAsync<DeliveryReceipt>());
        var rest = new List<object>(); // the attach comes from the user actor, so it may come after the second receipt
        await foreach (var message in ReceiveNAsync(2, RemainingOrDefault))
        {
            rest.Add(message);
        }

        Assert.Single(rest.OfType<UserProtocol.ConnectionAttached>());
        Assert.Equal(new DeliveryReceipt(2, 2, 0), Assert.Single(rest.OfType<DeliveryReceipt>()));
        await StatsAsync();
        Assert.Equal(["1", "2"], first.Sent);
        Assert.Equal(["2"], second.Sent);
    }

    [Fact]
    public async Task A_long_burst_is_uncorked_every_sixteen_sends_by_default_so_no_cork_outgrows_the_outbox_bounds()
    {
        var outbox = new RecordingOutbox { Corks = true };
        await RegisterAsync(TestIdentities.Tapr("c1", user: "alice"), outbox);
        using var hold = await HoldRegistryAsync();

        var payloads = Enumerable.Range(1, 20).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        await SendBurstToAliceAsync(hold, payloads);

        Assert.Equal([15, 5], outbox.UncorkedBatches); // the holding send is the cork's first of 16, then sends 1-15; then 16-20
        Assert.Equal(2, outbox.Corked);
        Assert.Equal(2, outbox.Uncorks);
        Assert.False(outbox.IsCorked);
        Assert.Equal(payloads, outbox.Sent);
    }

    [Fact]
    public async Task A_send_that_would_take_a_cork_past_its_byte_bound_releases_the_cork_first()
    {
        // A 32 KiB bound, as Limits:OutboundQueueBytes of 32 KiB gives: what queues behind a corked frame must stay
        // within it, or a healthy client is closed with 4001. Sends of 1 B, 31,000 B and 31,000 B: the third would
        // queue 62,000 B behind the first, so the cork holding the first two is released before it.
        var outbox = await UseRegistryWithAliceAsync(corkSends: 16, corkBytes: 32 * 1024);
        using var hold = await HoldRegistryAsync();

        var payloads = new[] { "x", new string('a', 31_000), new string('b', 31_000) };
        await SendBurstToAliceAsync(hold, payloads);

        Assert.Equal([2, 1], outbox.UncorkedBatches);
        Assert.Equal(payloads, outbox.Sent);
    }


    [Fact]
    public async Task Sends_released_at_the_bound_do_not_let_the_stale_message_told_for_them_cut_the_next_cork_short()
    {
        var outbox = await UseRegistryWithAliceAsync(corkSends: 3);
        using var hold = await HoldRegistryAsync();

        // The holding send counts as the first of three: the registry holds sends 1 and 2 and releases them at send 2,
        // while the message the holding send told to release them (at the latest) waits behind send 4. Send 5 is told
        // while sends 1 and 2 are written, so it comes after that message, now stale: sends 3-5 fill the next cork. A
        // stale message that released sends 3 and 4 would give 2, 2, 1.
        var enqueues = 0;
        outbox.OnEnqueue = () =>
        {
            if (++enqueues == 2)
            {
                TellSend("5");
            }
        };
        foreach (var payload in new[] { "1", "2", "3", "4" })
        {
            TellSend(payload);
        }

        hold.Release();
        for (var i = 0; i < 6; i++)
        {
            await ExpectMsgAsync<DeliveryReceipt>();
        }

        await StatsAsync();
        Assert.Equal([2, 3], outbox.UncorkedBatches);
        Assert.Equal(2, outbox.Corked);
        Assert.Equal(2, outbox.Uncorks);
        Assert.False(outbox.IsCorked);
        Assert.Equal(["1", "2", "3", "4", "5"], outbox.Sent);

        void TellSend(string payload) => _registry.Tell(new SendToConnections(new TargetFilter(Users: ["alice"]), OutboundMessage.Text(payload)), TestActor);
    }

    [Fact]
    public async Task With_corking_off_a_burst_of_sends_corks_nothing()
    {
        var outbox = await UseRegistryWithAliceAsync(corkSends: 0);
        using var hold = await HoldRegistryAsync();

        foreach (var payload in new[] { "1", "2", "3" })
        {
            _registry.Tell(new SendToConnections(new TargetFilter(Users: ["alice"]), OutboundMessage.Text(payload)), TestActor);
        }

        hold.Release();
        for (var i = 0; i < 4; i++)
        {
            await ExpectMsgAsync<DeliveryReceipt>();
        }

        Assert.Equal(0, outbox.Corked);
        Assert.Equal(["1", "2", "3"], outbox.Sent);
    }

    [Fact]
    public async Task An_outbox_whose_uncork_throws_does_not_keep_the_others_corked()
    {
        var failing = new RecordingOutbox { Corks = true, ThrowOnUncork = new InvalidOperationException("boom") };
        var healthy = new RecordingOutbox { Corks = true };
        await RegisterAsync(TestIdentities.Tapr("c1", user: "alice"), failing);
        await RegisterAsync(TestIdentities.Tapr("c2", user: "bob"), healthy);
        using var hold = await HoldRegistryAsync();

        TellSendWithMoreWaiting(new TargetFilter(Users: ["alice", "bob"]));
        hold.Release();

        await ExpectMsgAsync<DeliveryReceipt>();
        Assert.Equal(new DeliveryReceipt(2, 2, 0), await ExpectMsgAsync<DeliveryReceipt>());
        await StatsAsync();
        Assert.Equal(1, failing.Uncorks);
        AssertCorkedAndUncorkedOnce(healthy);
    }

    [Fact]
    public async Task A_registry_that_fails_mid_send_uncorks_what_the_send_had_corked_and_fails_the_send_before_it_restarts()
    {
        var corked = new RecordingOutbox { Corks = true };
        await RegisterAsync(TestIdentities.Tapr("c1", user: "alice"), corked);
        await RegisterAsync(TestIdentities.Tapr("c2", user: "bob"), new RecordingOutbox { ThrowOnEnqueue = new InvalidOperationException("boom") });
        using var hold = await HoldRegistryAsync();

        await EventFilter.Exception<InvalidOperationException>().ExpectOneAsync(() =>
        {
            TellSendWithMoreWaiting(new TargetFilter(Users: ["alice", "bob"]));
            hold.Release();
            return Task.CompletedTask;
        });

        // Neither the send nor the stats request behind it (which made the registry write the send) is left to time
        // out.
        await ExpectMsgAsync<DeliveryReceipt>(); // the holding send
        Assert.IsType<InvalidOperationException>((await ExpectMsgAsync<Status.Failure>()).Cause);
        Assert.IsType<InvalidOperationException>((await ExpectMsgAsync<Status.Failure>()).Cause);
        await AwaitAssertAsync(() => AssertCorkedAndUncorkedOnce(corked));
    }

    [Fact]
    public async Task A_send_whose_release_of_the_cork_before_it_fails_is_answered_with_the_failure()
    {
        // A 1 KiB cork bound: the 2,000-byte send 2 releases the cork holding send 1 first, and that write fails on
        // bob.
        await UseRegistryWithAliceAsync(corkSends: 16, corkBytes: 1024);
        await RegisterAsync(TestIdentities.Tapr("c2", user: "bob"), new RecordingOutbox { ThrowOnEnqueue = new InvalidOperationException("boom") });
        using var hold = await HoldRegistryAsync();

        await EventFilter.Exception<InvalidOperationException>().ExpectOneAsync(() =>
        {
            _registry.Tell(new SendToConnections(new TargetFilter(Users: ["alice", "bob"]), OutboundMessage.Text("1")), TestActor);
            _registry.Tell(new SendToConnections(new TargetFilter(Users: ["alice"]), OutboundMessage.Text(new string('2', 2000))), TestActor);
            hold.Release();
            return Task.CompletedTask;
        });

        await ExpectMsgAsync<DeliveryReceipt>(); // the holding send
        Assert.IsType<InvalidOperationException>((await ExpectMsgAsync<Status.Failure>()).Cause); // send 1
        Assert.IsType<InvalidOperationException>((await ExpectMsgAsync<Status.Failure>()).Cause); // send 2
    }

    [Fact]
    public async Task A_registry_that_stops_with_a_send_held_answers_it_and_leaves_nothing_corked()
    {
        var outbox = new RecordingOutbox { Corks = true };
        await RegisterAsync(TestIdentities.Tapr("c1", user: "alice"), outbox);
        Watch(_registry);
        using var hold = await HoldRegistryAsync();

        // The poison pill waits behind the send, so the send is held, and the stop comes before the message that would
        // write it. The stop stops the connections first, so the receipt counts c1 as dropped.
        _registry.Tell(new SendToConnections(new TargetFilter(Users: ["alice"]), OutboundMessage.Text("1")), TestActor);
        _registry.Tell(PoisonPill.Instance);
        hold.Release();

        await ExpectMsgAsync<DeliveryReceipt>(); // the holding send
        Assert.Equal(new DeliveryReceipt(1, 0, 1), await ExpectMsgAsync<DeliveryReceipt>());
        await ExpectTerminatedAsync(_registry);
        Assert.False(outbox.IsCorked);
        Assert.Equal(outbox.Corked, outbox.Uncorks);
    }

    [Fact]
    public async Task A_registry_that_stops_with_a_cork_open_releases_it()
    {
        var outbox = new RecordingOutbox { Corks = true };
        await RegisterAsync(TestIdentities.Tapr("c1", user: "alice"), outbox);
        Watch(_registry);
        using var hold = await HoldRegistryAsync();

        // The send is held; the stats request behind it writes it, and leaves its cork open because the poison pill
        // waits behind, with the message that would release the cork behind the pill. So only the stop releases it.
        _registry.Tell(new SendToConnections(new TargetFilter(Users: ["alice"]), OutboundMessage.Text("1")), TestActor);
        _registry.Tell(GetStats.Instance, TestActor);
        _registry.Tell(PoisonPill.Instance);
        hold.Release();

        await ExpectMsgAsync<DeliveryReceipt>(); // the holding send
        Assert.Equal(new DeliveryReceipt(1, 1, 0), await ExpectMsgAsync<DeliveryReceipt>());
        await ExpectMsgAsync<RegistryStats>();
        await ExpectTerminatedAsync(_registry);
        AssertCorkedAndUncorkedOnce(outbox);
        Assert.Equal(["1"], outbox.Sent);
    }

    [Fact]
    public async Task Close_closes_exactly_the_targets_with_the_code_and_reason()
    {
        await RegisterPopulationAsync();

        _registry.Tell(new CloseConnections(new TargetFilter(Users: ["bob"]), 4100, "kicked"), TestActor);

        Assert.Equal(new ConnectionsClosed(2), await ExpectMsgAsync<ConnectionsClosed>());
        Assert.Equal(new CloseRequest(4100, "kicked"), _outboxes["c3"].Closes[0]);
        Assert.Equal(new CloseRequest(4100, "kicked"), _outboxes["c4"].Closes[0]);
        Assert.All(new[] { "c1", "c2", "c5" }, id => Assert.Empty(_outboxes[id].Closes));
    }

    [Fact]
    public async Task Closing_unknown_targets_is_not_an_error()
    {
        await RegisterPopulationAsync();

        _registry.Tell(new CloseConnections(new TargetFilter(ConnIds: ["ghost"], Users: ["nobody"]), 1000, string.Empty), TestActor);

        Assert.Equal(new ConnectionsClosed(0), await ExpectMsgAsync<ConnectionsClosed>());
        Assert.All(_outboxes.Values, outbox => Assert.Empty(outbox.Closes));
    }

    [Fact]
    public async Task Close_all_closes_every_connection_when_the_filter_says_all()
    {
        await RegisterPopulationAsync();

        _registry.Tell(new CloseConnections(new TargetFilter(All: true), 1000, string.Empty), TestActor);

        Assert.Equal(new ConnectionsClosed(5), await ExpectMsgAsync<ConnectionsClosed>());
        Assert.All(_outboxes.Values, outbox => Assert.Equal(new CloseRequest(1000, string.Empty), outbox.Closes[0]));
    }

    [Theory]
    [InlineData(RouteKind.Users, "bob", "c3,c4")]
    [InlineData(RouteKind.Users, "bob,carol,bob", "c3,c4,c5")]
    [InlineData(RouteKind.Channels, "room", "c3,c4")]
    [InlineData(RouteKind.Channels, "lobby,nowhere", "c5")]
    [InlineData(RouteKind.Clients, "c1,c5,c1,ghost", "c1,c5")]
    [InlineData(RouteKind.Users, "nobody", "")]
    public async Task A_route_delivers_once_to_each_matching_connection_only(RouteKind kind, string targets, string expected)
    {
        await RegisterPopulationAsync();

        _registry.Tell(new Route(kind, targets.Split(','), OutboundMessage.Text("{\"hello\":true}")), TestActor);
        await StatsAsync(); // the route has been handled once the stats come back

        var reached = expected.Length == 0 ? [] : expected.Split(',');
        foreach (var (id, outbox) in _outboxes)
        {
            Assert.Equal(reached.Contains(id) ? ["{\"hello\":true}"] : [], outbox.Sent);
        }
    }

    [Fact]
    public async Task An_identity_change_moves_the_user_and_token_index_entries()
    {
        var before = TestIdentities.Jac("client-1", root: "n::public", token: string.Empty);
        await RegisterAsync(before);
        await RegisterAsync(TestIdentities.Jac("client-2", root: "n::public", token: string.Empty));
        var after = before.WithUser("n::alice", "jwt-alice", accessPublic: false);

        _registry.Tell(new IdentityChanged(before, after), TestActor);

        Assert.Equal(new DeliveryReceipt(1, 1, 0), await SendAsync(new TargetFilter(Users: ["n::public"])));
        Assert.Equal(new DeliveryReceipt(1, 1, 0), await SendAsync(new TargetFilter(Users: ["n::alice"])));
        Assert.Equal(new DeliveryReceipt(1, 1, 0), await SendAsync(new TargetFilter(Tokens: ["jwt-alice"])));
        Assert.Equal(new DeliveryReceipt(1, 1, 0), await SendAsync(new TargetFilter(Tokens: [ConnectionIdentity.Md5Hex("jwt-alice")])));
        Assert.Equal(new DeliveryReceipt(1, 1, 0), await SendAsync(new TargetFilter(Tokens: [string.Empty])));
        Assert.Equal(new DeliveryReceipt(1, 1, 0), await SendAsync(new TargetFilter(Users: ["n::alice"], UsersAccessType: 1)));
        Assert.Equal(["client-1"], _outboxes.Where(o => o.Value.Sent.Count == 4).Select(o => o.Key));
        var list = await ListAsync();
        Assert.Equal(["n::alice", "n::public"], list.Users.Select(u => u.Name));
        Assert.Same(after, Assert.Single(list.Users[0].Private));
        Assert.Equal(2, (await StatsAsync()).Users);
    }

    [Fact]
    public async Task A_send_naming_a_connections_old_and_new_user_and_token_reaches_it_once()
    {
        var before = TestIdentities.Jac("client-1", root: "n::public", token: "jwt-public");
        await RegisterAsync(before);
        await RegisterAsync(TestIdentities.Jac("client-2", root: "n::public", token: "jwt-public"));
        _registry.Tell(new IdentityChanged(before, before.WithUser("n::alice", "jwt-alice", accessPublic: false)), TestActor);

        Assert.Equal(new DeliveryReceipt(2, 2, 0), await SendAsync(new TargetFilter(Users: ["n::public", "n::alice"])));
        Assert.Equal(new DeliveryReceipt(2, 2, 0), await SendAsync(new TargetFilter(Tokens: ["jwt-public", "jwt-alice", "jwt-public"])));
        Assert.Equal(new DeliveryReceipt(1, 1, 0), await SendAsync(new TargetFilter(Users: ["n::alice", "n::public"], Tokens: ["jwt-alice"])));
        Assert.Equal(3, _outboxes["client-1"].Sent.Count);
        Assert.Equal(2, _outboxes["client-2"].Sent.Count);
    }

    [Fact]
    public async Task A_connection_that_changed_identity_leaves_no_entries_when_it_ends()
    {
        var before = TestIdentities.Jac("client-1", root: "n::public");
        await RegisterAsync(before);
        _registry.Tell(new IdentityChanged(before, before.WithUser("n::alice", "jwt", accessPublic: false)), TestActor);

        _connections["client-1"].Tell(new ConnectionProtocol.SocketClosed(1000, "bye"), TestActor);

        await AwaitAssertAsync(async () => Assert.Equal(new RegistryStats(0, 0, 0), await StatsAsync()));
        Assert.Equal(new DeliveryReceipt(0, 0, 0), await SendAsync(new TargetFilter(Users: ["n::alice"])));
        Assert.Equal(new DeliveryReceipt(0, 0, 0), await SendAsync(new TargetFilter(Tokens: ["jwt"])));
    }

    [Fact]
    public async Task The_user_actor_stops_after_its_last_connection_and_a_new_one_serves_a_later_connection()
    {
        await RegisterAsync(TestIdentities.Tapr("c1", user: "alice"));
        var firstUserActor = Watch(LastSender);
        await RegisterAsync(TestIdentities.Tapr("c2", user: "alice"));
        Assert.Equal(firstUserActor, LastSender);

        _connections["c1"].Tell(new ConnectionProtocol.SocketClosed(1000, "bye"), TestActor);
        await AwaitAssertAsync(async () => Assert.Equal(new RegistryStats(1, 1, 1), await StatsAsync()));
        _connections["c2"].Tell(new ConnectionProtocol.SocketClosed(1000, "bye"), TestActor);
        await ExpectTerminatedAsync(firstUserActor);
        Assert.Equal(new RegistryStats(0, 0, 0), await StatsAsync());

        var outbox = await RegisterAsync(TestIdentities.Tapr("c3", user: "alice"));
        Assert.NotEqual(firstUserActor, LastSender);
        Assert.Equal(new RegistryStats(1, 1, 1), await StatsAsync());
        _connections["c3"].Tell(ConnectionProtocol.Ping.Instance, TestActor);
        await AwaitAssertAsync(() => Assert.Single(outbox.Sent));
    }

    [Fact]
    public async Task A_connection_registered_while_its_user_goes_idle_is_never_lost()
    {
        RecordingOutbox outbox = null!;
        for (var i = 0; i < 40; i++)
        {
            if (i > 0)
            {
                // End the previous connection and register the next at once, racing the user actor's idle report.
                _connections[$"c{i - 1}"].Tell(new ConnectionProtocol.SocketClosed(1000, "bye"), TestActor);
            }

            outbox = await RegisterAsync(TestIdentities.Tapr($"c{i}", user: "alice"));
        }

        await AwaitAssertAsync(async () => Assert.Equal(new RegistryStats(1, 1, 1), await StatsAsync()));
        var last = Watch(_connections["c39"]);
        last.Tell(ConnectionProtocol.Ping.Instance, TestActor);
        await AwaitAssertAsync(() => Assert.Equal(["{\"event\":\"pong\"}"], outbox.Sent));
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(100));
        Assert.Equal("c39", Assert.Single(Assert.Single((await ListAsync()).Users).Private).Id.Value);
    }

    [Fact]
    public async Task Abandoning_a_registration_stops_its_connection_and_unindexes_it()
    {
        await RegisterAsync(TestIdentities.Tapr("c1", user: "alice"));
        var connection = Watch(_connections["c1"]);

        _registry.Tell(new AbandonConnection(new ConnectionId("c1")), TestActor);

        await ExpectTerminatedAsync(connection);
        await AwaitAssertAsync(async () => Assert.Equal(new RegistryStats(0, 0, 0), await StatsAsync()));
    }

    [Fact]
    public async Task Close_all_refuses_new_connections_and_await_empty_answers_once_the_last_connection_ended()
    {
        // The spec plays the sockets: each reports its end when the spec says so.
        await RegisterAsync(TestIdentities.Tapr("c1", user: "alice"), reportsClose: false);
        await RegisterAsync(TestIdentities.Tapr("c2", user: "bob"), reportsClose: false);

        _registry.Tell(new CloseAll(1001, "gateway shutting down"), TestActor);
        Assert.Equal(new ConnectionsClosed(2), await ExpectMsgAsync<ConnectionsClosed>());
        Assert.All(_outboxes.Values, outbox => Assert.Equal(new CloseRequest(1001, "gateway shutting down"), outbox.Closes[0]));
        await Assert.ThrowsAsync<ShuttingDownException>(() =>
            _registry.Ask<UserProtocol.ConnectionAttached>(new RegisterConnection(TestIdentities.Tapr("c3"), new RecordingOutbox(), TestIdentities.Flow()), RemainingOrDefault));

        _registry.Tell(AwaitEmpty.Instance, TestActor);
        _registry.Tell(GetStats.Instance, TestActor);
        Assert.Equal(new RegistryStats(2, 2, 2), await ExpectMsgAsync<RegistryStats>()); // not empty yet: no RegistryEmpty before it

        _connections["c1"].Tell(new ConnectionProtocol.SocketClosed(1001, "gateway shutting down"), TestActor);
        await AwaitAssertAsync(async () => Assert.Equal(1, (await StatsAsync()).Connections));
        Assert.False(HasMessages, "RegistryEmpty came while a connection remained");
        _connections["c2"].Tell(new ConnectionProtocol.SocketClosed(1001, "gateway shutting down"), TestActor);
        await ExpectMsgAsync<RegistryEmpty>();
    }

    [Fact]
    public async Task Await_empty_answers_at_once_when_no_connection_remains()
    {
        _registry.Tell(AwaitEmpty.Instance, TestActor);

        await ExpectMsgAsync<RegistryEmpty>();
    }

    private async Task RegisterPopulationAsync()
    {
        await RegisterAsync(TestIdentities.Tapr("c1", user: "alice", token: "t1"));
        await RegisterAsync(TestIdentities.Tapr("c2", user: "alice", token: "t2", accessPublic: true));
        await RegisterAsync(TestIdentities.Tapr("c3", user: "bob", token: "t3", channel: "room"));
        await RegisterAsync(TestIdentities.Tapr("c4", user: "bob", token: "t1", accessPublic: true, channel: "room"));
        await RegisterAsync(TestIdentities.Jac("c5", root: "carol", channel: "lobby", token: "t5"));
    }

    /// <summary>Registers and waits for the attach; <see cref="TestKitBase.LastSender"/> is then the user actor.</summary>
    private async Task<RecordingOutbox> RegisterAsync(ConnectionIdentity identity, RecordingOutbox? outbox = null, bool reportsClose = true)
    {
        outbox ??= new RecordingOutbox();
        _registry.Tell(new RegisterConnection(identity, outbox, TestIdentities.Flow()), TestActor);
        var attached = await ExpectMsgAsync<UserProtocol.ConnectionAttached>();
        _outboxes[identity.Id.Value] = outbox;
        _connections[identity.Id.Value] = attached.Connection;
        outbox.ReportsTo = reportsClose ? attached.Connection : null; // as the socket's read loop reports the end of a close
        return outbox;
    }

    /// <summary>
    /// Replaces the spec's registry with one that corks at most <paramref name="corkSends"/> sends (1 or less: never),
    /// and registers alice's connection c1 with it; returns c1's outbox, which records corks.
    /// </summary>
    private async Task<RecordingOutbox> UseRegistryWithAliceAsync(int corkSends, long corkBytes = 64 * 1024)
    {
        _registry = Sys.ActorOf(RegistryActor.Props(_callbacks.Ref, NoDeadline, NoDeadline, NullLoggerFactory.Instance, corkSends, corkBytes), $"registry-corking-{corkSends}");
        var outbox = new RecordingOutbox { Corks = true };
        await RegisterAsync(TestIdentities.Tapr("c1", user: "alice"), outbox);
        return outbox;
    }

    /// <summary>
    /// Tells alice's sends of <paramref name="payloads"/> while <paramref name="hold"/> keeps the registry busy, so
    /// they all wait in its mailbox, then releases it and returns once every send (and the holding one) is answered
    /// and what they left corked is released.
    /// </summary>
    private async Task SendBurstToAliceAsync(Hold hold, IReadOnlyList<string> payloads)
    {
        foreach (var payload in payloads)
        {
            _registry.Tell(new SendToConnections(new TargetFilter(Users: ["alice"]), OutboundMessage.Text(payload)), TestActor);
        }

        hold.Release();
        for (var i = 0; i <= payloads.Count; i++)
        {
            await ExpectMsgAsync<DeliveryReceipt>();
        }

        await StatsAsync();
    }

    private static void AssertCorkedAndUncorkedOnce(RecordingOutbox outbox)
    {
        Assert.Equal(1, outbox.Corked);
        Assert.Equal(1, outbox.Uncorks);
        Assert.False(outbox.IsCorked);
    }

    /// <summary>Tells a send with a message queued right behind it, so that a held registry finds more waiting and corks.</summary>
    private void TellSendWithMoreWaiting(TargetFilter filter)
    {
        _registry.Tell(new SendToConnections(filter, OutboundMessage.Text("1")), TestActor);
        _registry.Tell(GetStats.Instance, TestActor);
    }

    /// <summary>
    /// Holds the registry inside a send until the returned hold is released (or disposed), so that what a spec tells it
    /// meanwhile waits in its mailbox. The holding send's receipt comes to the test actor first.
    /// </summary>
    private async Task<Hold> HoldRegistryAsync()
    {
        var hold = new Hold();
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var holder = new RecordingOutbox
        {
            OnEnqueue = () =>
            {
                entered.TrySetResult();
                hold.Wait();
            },
        };
        await RegisterAsync(TestIdentities.Tapr("holder", user: "holder"), holder);
        _registry.Tell(new SendToConnections(new TargetFilter(Users: ["holder"]), OutboundMessage.Text("hold")), TestActor);
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(10));
        return hold;
    }

    /// <summary>Keeps the registry's thread waiting until released; disposing releases it, so a failing spec frees it too.</summary>
    private sealed class Hold : IDisposable
    {
        private readonly ManualResetEventSlim _released = new();

        public void Wait() => _released.Wait(TimeSpan.FromSeconds(10));

        public void Release() => _released.Set();

        public void Dispose() => _released.Set();
    }

    private Task<RegistryStats> StatsAsync() => _registry.Ask<RegistryStats>(GetStats.Instance, RemainingOrDefault);

    private Task<ConnectionList> ListAsync() => _registry.Ask<ConnectionList>(GetConnections.Instance, RemainingOrDefault);

    private Task<DeliveryReceipt> SendAsync(TargetFilter filter, string payload = "{}") =>
        _registry.Ask<DeliveryReceipt>(new SendToConnections(filter, OutboundMessage.Text(payload)), RemainingOrDefault);

    private async Task AssertIndexesMatchAsync(IEnumerable<ConnectionIdentity> live, IReadOnlyList<string> users)
    {
        var expected = live.ToList();
        var list = await ListAsync();
        var listed = list.Users.SelectMany(u => u.Private.Concat(u.Public).Select(c => (u.Name, c.Id.Value, c.AccessPublic))).OrderBy(x => x.Value, StringComparer.Ordinal);
        Assert.Equal(expected.Select(c => (c.User, c.Id.Value, c.AccessPublic)).OrderBy(x => x.Value, StringComparer.Ordinal), listed);
        Assert.Equal(new RegistryStats(expected.Count, expected.Select(c => c.User).Distinct().Count(), expected.Select(c => c.User).Distinct().Count()), await StatsAsync());
        Assert.Equal(expected.Count, (await SendAsync(new TargetFilter(All: true))).Matched);
        foreach (var user in users)
        {
            Assert.Equal(expected.Count(c => c.User == user), (await SendAsync(new TargetFilter(Users: [user]))).Matched);
            Assert.Equal(expected.Count(c => c.User == user && !c.AccessPublic), (await SendAsync(new TargetFilter(Users: [user], UsersAccessType: 1))).Matched);
        }

        for (var token = 0; token < 6; token++)
        {
            var name = $"tok-{token}";
            Assert.Equal(expected.Count(c => c.Token == name), (await SendAsync(new TargetFilter(Tokens: [name]))).Matched);
            Assert.Equal(expected.Count(c => c.Token == name), (await SendAsync(new TargetFilter(Tokens: [ConnectionIdentity.Md5Hex(name)]))).Matched);
        }

        Assert.Equal(expected.Count(c => c.Channel == "room"), (await SendAsync(new TargetFilter(Channels: ["room"]))).Matched);
        foreach (var connection in expected)
        {
            Assert.Equal(1, (await SendAsync(new TargetFilter(ConnIds: [connection.Id.Value]))).Matched);
        }
    }

    private static TargetFilter ParseFilter(string text)
    {
        if (text == "all")
        {
            return new TargetFilter(All: true);
        }

        var filter = new TargetFilter();
        foreach (var part in text.Split(';'))
        {
            var (key, values) = (part[..part.IndexOf('=', StringComparison.Ordinal)], part[(part.IndexOf('=', StringComparison.Ordinal) + 1)..].Split(','));
            filter = key switch
            {
                "users" => filter with { Users = values },
                "tokens" => filter with { Tokens = [.. values.Select(v => v.StartsWith("md5:", StringComparison.Ordinal) ? ConnectionIdentity.Md5Hex(v[4..]) : v)] },
                "conns" => filter with { ConnIds = values },
                "channels" => filter with { Channels = values },
                "access" => filter with { UsersAccessType = int.Parse(values[0], System.Globalization.CultureInfo.InvariantCulture) },
                _ => throw new ArgumentException($"unknown filter key {key}", nameof(text)),
            };
        }

        return filter;
    }
}
