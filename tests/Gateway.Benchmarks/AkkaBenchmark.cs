using System.Diagnostics;
using System.Text.Json;
using Akka.Actor;
using Akka.Configuration;
using Gateway.Connections;
using Gateway.Hosting;

namespace Gateway.Benchmarks;

/// <summary>
/// Reference figures of the actor runtime under the gateway (Akka.NET), in this process: message
/// throughput between pairs, fan-out from one sender, and what an idle actor costs in managed memory
/// and creation time, with Akka's defaults and with what the gateway uses for its connection actors
/// (<see cref="ConnectionMailbox"/>, props from an <see cref="ActorFactory{TActor}"/>). Each throughput
/// figure is the best of <c>--repeat</c> runs, after a warm-up.
/// </summary>
public static class AkkaBenchmark
{
    // The gateway's own Akka settings (its connection mailbox among them).
    private static readonly Config GatewayConfig = AkkaSetup.Defaults(new GatewayOptions());

    public static async Task<int> RunAsync(BenchmarkOptions options)
    {
        var pairs = options.Int("pairs", 64);
        var inFlight = options.Int("inflight", 100);
        var rounds = options.Int("rounds", 200_000);
        var fanoutActors = options.Int("fanout-actors", 10_000);
        var fanoutMessages = options.Int("fanout-messages", 200);
        var idleActors = options.Int("idle-actors", 100_000);
        var repeat = options.Int("repeat", 3);

        Console.Error.WriteLine("warming up...");
        await PingPongAsync(pairs, inFlight, rounds / 10);
        await FanOutAsync(fanoutActors / 10, fanoutMessages);

        var pingPong = Best(repeat, () => PingPongAsync(pairs, inFlight, rounds));
        Report("pingpong", pingPong.Messages, pingPong.Seconds, new() { ["pairs"] = pairs, ["inflight"] = inFlight });

        var fanOut = Best(repeat, () => FanOutAsync(fanoutActors, fanoutMessages));
        Report("fanout", fanOut.Messages, fanOut.Seconds, new() { ["actors"] = fanoutActors, ["messagesPerActor"] = fanoutMessages });

        foreach (var (name, props) in new (string, Func<CountdownEvent, Props>)[]
        {
            ("akka-default", started => Props.Create(() => new Idle(started))),
            ("gateway-connection", started => ActorFactory<Idle>.Props(() => new Idle(started)).WithMailbox(ConnectionMailbox.Id)),
        })
        {
            await IdleActorsAsync(idleActors / 10, props); // warm-up
            var (bytes, microseconds) = await IdleActorsAsync(idleActors, props);
            Emit(new()
            {
                ["scenario"] = "akka",
                ["figure"] = "idle-actor",
                ["props"] = name,
                ["actors"] = idleActors,
                ["bytesPerActor"] = Math.Round(bytes, 1),
                ["createMicrosecondsPerActor"] = Math.Round(microseconds, 2),
            });
        }

        return 0;
    }

    private static (long Messages, double Seconds) Best(int repeat, Func<Task<(long Messages, double Seconds)>> run)
    {
        (long Messages, double Seconds) best = (0, double.MaxValue);
        for (var i = 0; i < repeat; i++)
        {
            var result = run().GetAwaiter().GetResult();
            Console.Error.WriteLine($"  run {i + 1}: {result.Messages / result.Seconds:N0} msg/s");
            if (result.Messages / result.Seconds > best.Messages / best.Seconds)
            {
                best = result;
            }
        }

        return best;
    }

    private static void Report(string figure, long messages, double seconds, Dictionary<string, object> extra)
    {
        var rate = messages / seconds;
        var line = new Dictionary<string, object>
        {
            ["scenario"] = "akka",
            ["figure"] = figure,
        };
        foreach (var (key, value) in extra)
        {
            line[key] = value;
        }

        line["messages"] = messages;
        line["seconds"] = Math.Round(seconds, 3);
        line["msgPerSec"] = Math.Round(rate);
        Emit(line);
    }

    private static void Emit(Dictionary<string, object> line) => Console.WriteLine(JsonSerializer.Serialize(line));

    /// <summary>Pairs of actors bounce messages back and forth, <paramref name="inFlight"/> per pair at a time.</summary>
    private static async Task<(long Messages, double Seconds)> PingPongAsync(int pairs, int inFlight, int rounds)
    {
        using var system = ActorSystem.Create("pingpong");
        using var done = new CountdownEvent(pairs * 2);
        var actors = new List<(IActorRef A, IActorRef B)>();
        for (var i = 0; i < pairs; i++)
        {
            // A receives the injected messages plus B's replies; B receives A's replies.
            var a = system.ActorOf(Props.Create(() => new Bouncer(rounds, rounds + inFlight, done)));
            var b = system.ActorOf(Props.Create(() => new Bouncer(rounds, rounds, done)));
            actors.Add((a, b));
        }

        await WarmedUp(system, actors.SelectMany(p => new[] { p.A, p.B }));
        var stopwatch = Stopwatch.StartNew();
        foreach (var (a, b) in actors)
        {
            for (var i = 0; i < inFlight; i++)
            {
                a.Tell(Ball.Instance, b);
            }
        }

        if (!done.Wait(TimeSpan.FromMinutes(2)))
        {
            throw new TimeoutException("ping-pong did not finish");
        }

        var seconds = stopwatch.Elapsed.TotalSeconds;
        return ((long)pairs * ((2L * rounds) + inFlight), seconds);
    }

    /// <summary>One actor tells <paramref name="messagesPerActor"/> messages to each of <paramref name="actorCount"/> actors.</summary>
    private static async Task<(long Messages, double Seconds)> FanOutAsync(int actorCount, int messagesPerActor)
    {
        using var system = ActorSystem.Create("fanout");
        using var done = new CountdownEvent(actorCount);
        var receivers = new IActorRef[actorCount];
        for (var i = 0; i < actorCount; i++)
        {
            receivers[i] = system.ActorOf(Props.Create(() => new Counter(messagesPerActor, done)));
        }

        var sender = system.ActorOf(Props.Create(() => new Broadcaster(receivers, messagesPerActor)));
        await WarmedUp(system, receivers.Append(sender));
        var stopwatch = Stopwatch.StartNew();
        sender.Tell(Ball.Instance);
        if (!done.Wait(TimeSpan.FromMinutes(2)))
        {
            throw new TimeoutException("fan-out did not finish");
        }

        var seconds = stopwatch.Elapsed.TotalSeconds;
        return ((long)actorCount * messagesPerActor, seconds);
    }

    /// <summary>
    /// Managed heap growth per actor for <paramref name="count"/> started, idle actors (each has received one
    /// message, as a connection actor has), and the wall time per <c>ActorOf</c> until all have started.
    /// </summary>
    private static async Task<(double Bytes, double Microseconds)> IdleActorsAsync(int count, Func<CountdownEvent, Props> props)
    {
        using var system = ActorSystem.Create("idle", GatewayConfig);
        using var started = new CountdownEvent(count);
        var before = Heap();
        var actors = new IActorRef[count];
        var stopwatch = Stopwatch.StartNew();
        for (var i = 0; i < count; i++)
        {
            actors[i] = system.ActorOf(props(started));
        }

        if (!started.Wait(TimeSpan.FromMinutes(1)))
        {
            throw new TimeoutException("idle actors did not start");
        }

        var microseconds = stopwatch.Elapsed.TotalMicroseconds / count;
        await Task.WhenAll(actors.Select(a => a.Ask<ActorIdentity>(new Identify(null), TimeSpan.FromSeconds(30))));
        var after = Heap();
        GC.KeepAlive(actors);
        var perActor = (after - before - (count * (double)IntPtr.Size)) / count; // excluding our own array of refs
        await system.Terminate();
        return (perActor, microseconds);
    }

    private static long Heap()
    {
        for (var i = 0; i < 3; i++)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }

        return GC.GetTotalMemory(forceFullCollection: true);
    }

    private static async Task WarmedUp(ActorSystem system, IEnumerable<IActorRef> actors)
    {
        // Every actor has been created and answered once before the clock starts.
        await Task.WhenAll(actors.Select(a => a.Ask<ActorIdentity>(new Identify(null), TimeSpan.FromSeconds(30))));
        _ = system;
    }

    private sealed class Ball
    {
        public static readonly Ball Instance = new();
    }

    private sealed class Bouncer : ReceiveActor
    {
        private int _sent;
        private int _received;

        public Bouncer(int toSend, int toReceive, CountdownEvent done) => Receive<Ball>(ball =>
        {
            if (_sent < toSend)
            {
                _sent++;
                Sender.Tell(ball, Self);
            }

            if (++_received == toReceive)
            {
                done.Signal();
            }
        });
    }

    private sealed class Counter : ReceiveActor
    {
        private int _received;

        public Counter(int expected, CountdownEvent done) => Receive<Ball>(_ =>
        {
            if (++_received == expected)
            {
                done.Signal();
            }
        });
    }

    private sealed class Broadcaster : ReceiveActor
    {
        public Broadcaster(IActorRef[] receivers, int rounds) => Receive<Ball>(ball =>
        {
            for (var round = 0; round < rounds; round++)
            {
                foreach (var receiver in receivers)
                {
                    receiver.Tell(ball, Self);
                }
            }
        });
    }

    private sealed class Idle : ReceiveActor
    {
        public Idle(CountdownEvent started)
        {
            started.Signal();
            Receive<Ball>(_ => { });
        }
    }
}
