namespace Gateway.Tests.Actor;

public sealed class MailboxSpecs : TestKit
{
    private sealed record Numbered(int Producer, int Sequence);

    private sealed record Produce(IActorRef[] Consumers, int Count);

    private sealed record Report(long Received, long OutOfOrder);

    private sealed class GetReport
    {
        public static readonly GetReport Instance = new();
    }

    private sealed class Producer : ReceiveActor
    {
        public Producer(int id) => Receive<Produce>(produce =>
        {
            for (var i = 0; i < produce.Count; i++)
            {
                produce.Consumers[(id + i) % produce.Consumers.Length].Tell(new Numbered(id, i));
            }
        });
    }

    private sealed class Consumer : ReceiveActor
    {
        private readonly Dictionary<int, int> _last = [];
        private long _received;
        private long _outOfOrder;

        public Consumer()
        {
            Receive<Numbered>(message =>
            {
                _received++;
                if (_last.TryGetValue(message.Producer, out var last) && message.Sequence <= last)
                {
                    _outOfOrder++;
                }

                _last[message.Producer] = message.Sequence;
            });
            Receive<GetReport>(_ => Sender.Tell(new Report(_received, _outOfOrder)));
        }
    }

    private sealed class Gate : ReceiveActor
    {
        public Gate(ManualResetEventSlim gate, IActorRef probe)
        {
            Receive<string>(s => s == "block", _ =>
            {
                probe.Tell("blocked");
                gate.Wait(TimeSpan.FromSeconds(30));
            });
            ReceiveAny(message => probe.Tell(message));
        }
    }

    [Fact]
    public async Task Messages_between_a_pair_of_actors_arrive_in_send_order()
    {
        var consumer = Sys.ActorOf(Props.Create(() => new Consumer()));
        var producer = Sys.ActorOf(Props.Create(() => new Producer(0)));

        producer.Tell(new Produce([consumer], 100_000));
        await AwaitAssertAsync(async () =>
        {
            var report = await consumer.Ask<Report>(GetReport.Instance, DefaultTimeout);
            Assert.Equal(100_000, report.Received);
            Assert.Equal(0, report.OutOfOrder);
        }, TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task Every_message_from_thousands_of_producers_is_delivered_exactly_once_and_in_order_per_sender()
    {
        const int consumers = 1_000;
        const int producers = 2_000;
        const int perProducer = 1_000; // 2,000,000 messages in all

        var consumerRefs = Enumerable.Range(0, consumers).Select(_ => Sys.ActorOf(Props.Create(() => new Consumer()))).ToArray();
        var producerRefs = Enumerable.Range(0, producers).Select(id => Sys.ActorOf(Props.Create(() => new Producer(id)))).ToArray();

        // Producers run concurrently on the pool: many senders write into each mailbox at once.
        foreach (var producer in producerRefs)
        {
            producer.Tell(new Produce(consumerRefs, perProducer));
        }

        long total = 0;
        await AwaitAssertAsync(async () =>
        {
            var reports = await Task.WhenAll(consumerRefs.Select(c => c.Ask<Report>(GetReport.Instance, DefaultTimeout)));
            total = reports.Sum(r => r.Received);
            Assert.Equal((long)producers * perProducer, total);
            Assert.Equal(0, reports.Sum(r => r.OutOfOrder));
        }, Dilated(TimeSpan.FromSeconds(60)), TimeSpan.FromMilliseconds(250));

        // Nothing more trickles in afterwards: no duplicates.
        var again = await Task.WhenAll(consumerRefs.Select(c => c.Ask<Report>(GetReport.Instance, DefaultTimeout)));
        Assert.Equal(total, again.Sum(r => r.Received));
    }

    [Fact]
    public async Task A_stop_overtakes_user_messages_already_queued_and_those_become_dead_letters()
    {
        using var gate = new ManualResetEventSlim(false);
        var probe = CreateTestProbe();
        var deadLetters = CreateTestProbe();
        Sys.EventStream.Subscribe(deadLetters.Ref, typeof(DeadLetter));
        var actor = Sys.ActorOf(Props.Create(() => new Gate(gate, probe.Ref)));

        actor.Tell("block");
        await probe.ExpectMsgAsync("blocked");
        for (var i = 0; i < 5; i++)
        {
            actor.Tell(i);
        }

        Watch(actor);
        Sys.Stop(actor); // a system message: processed before the five queued user messages
        gate.Set();

        await ExpectTerminatedAsync(actor);
        await probe.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(200));
        var dead = new List<object>();
        for (var i = 0; i < 5; i++)
        {
            dead.Add((await deadLetters.ExpectMsgAsync<DeadLetter>()).Message);
        }

        Assert.Equal([0, 1, 2, 3, 4], dead);
    }

    [Fact]
    public async Task Messages_after_a_poison_pill_go_to_dead_letters_and_those_before_it_are_processed()
    {
        var probe = CreateTestProbe();
        var deadLetters = CreateTestProbe();
        Sys.EventStream.Subscribe(deadLetters.Ref, typeof(DeadLetter));
        using var gate = new ManualResetEventSlim(false);
        var actor = Sys.ActorOf(Props.Create(() => new Gate(gate, probe.Ref)));
        Watch(actor);

        actor.Tell("block");
        await probe.ExpectMsgAsync("blocked");
        actor.Tell("before");
        actor.Tell(PoisonPill.Instance);
        actor.Tell("after");
        gate.Set();

        await probe.ExpectMsgAsync("before");
        await ExpectTerminatedAsync(actor);
        var dead = await deadLetters.ExpectMsgAsync<DeadLetter>();
        Assert.Equal("after", dead.Message);
        Assert.Equal(actor, dead.Recipient);

        actor.Tell("later");
        Assert.Equal("later", (await deadLetters.ExpectMsgAsync<DeadLetter>()).Message);
    }

    [Fact]
    public async Task A_busy_actor_does_not_starve_others_on_a_small_pool()
    {
        // One actor with a long backlog yields its thread every turn, so another actor's single
        // message is processed long before the backlog is drained.
        var probe = CreateTestProbe();
        var busy = Sys.ActorOf(Props.Create(() => new Consumer()));
        var other = Sys.ActorOf(Props.Create(() => new EchoActor()));
        for (var i = 0; i < 2_000_000; i++)
        {
            busy.Tell(new Numbered(0, i));
        }

        other.Tell("ping", probe.Ref);
        await probe.ExpectMsgAsync("ping", Dilated(TimeSpan.FromSeconds(1)));
        var report = await busy.Ask<Report>(GetReport.Instance, Dilated(TimeSpan.FromSeconds(30)));
        Assert.Equal(2_000_000, report.Received);
    }
}
