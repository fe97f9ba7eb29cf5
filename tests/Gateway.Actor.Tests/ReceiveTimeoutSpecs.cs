using System.Diagnostics;

namespace Gateway.Tests.Actor;

public sealed class ReceiveTimeoutSpecs : TestKit
{
    private sealed record Quiet(string Text) : INotInfluenceReceiveTimeout;

    private sealed class Sleepy : ReceiveActor
    {
        public Sleepy(IActorRef probe, TimeSpan timeout)
        {
            SetReceiveTimeout(timeout);
            Receive<ReceiveTimeout>(_ => probe.Tell("timeout"));
            Receive<string>(s => s == "off", _ => SetReceiveTimeout(null));
            ReceiveAny(_ => { });
        }
    }

    [Fact]
    public async Task An_idle_actor_receives_a_timeout_and_then_again_while_it_stays_idle()
    {
        var probe = CreateTestProbe();
        var started = Stopwatch.StartNew();
        Sys.ActorOf(Props.Create(() => new Sleepy(probe.Ref, TimeSpan.FromMilliseconds(200))));

        await probe.ExpectMsgAsync("timeout");
        Assert.True(started.Elapsed >= TimeSpan.FromMilliseconds(200), $"fired early, after {started.Elapsed}");
        await probe.ExpectMsgAsync("timeout");
    }

    [Fact]
    public async Task Messages_postpone_the_timeout_but_quiet_ones_do_not()
    {
        var probe = CreateTestProbe();
        var timeout = TimeSpan.FromMilliseconds(300);
        var actor = Sys.ActorOf(Props.Create(() => new IdleTracker(probe.Ref, timeout)));

        // Whatever the machine's load, a timeout may only come after a full period without messages.
        var busy = Stopwatch.StartNew();
        while (busy.Elapsed < TimeSpan.FromMilliseconds(1200))
        {
            actor.Tell("keep-alive");
            await Task.Delay(20);
        }

        while (await probe.ReceiveOneAsync(TimeSpan.Zero) is TimeSpan idle)
        {
            Assert.True(idle >= timeout, $"timed out after only {idle.TotalMilliseconds} ms without messages");
        }

        // Quiet messages do not count as activity: the timeout comes although they keep arriving.
        using var stop = new CancellationTokenSource();
        var feeder = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                actor.Tell(new Quiet("shh"));
                await Task.Delay(20);
            }
        });
        var quietIdle = await probe.ExpectMsgAsync<TimeSpan>(timeout: Dilated(TimeSpan.FromSeconds(3)));
        Assert.True(quietIdle >= timeout);
        await stop.CancelAsync();
        await feeder;
    }

    private sealed class IdleTracker : ReceiveActor
    {
        private long _lastActivity = Stopwatch.GetTimestamp();

        public IdleTracker(IActorRef probe, TimeSpan timeout)
        {
            SetReceiveTimeout(timeout);
            Receive<ReceiveTimeout>(_ => probe.Tell(Stopwatch.GetElapsedTime(_lastActivity)));
            Receive<string>(_ => _lastActivity = Stopwatch.GetTimestamp());
            Receive<Quiet>(_ => { });
        }
    }

    [Fact]
    public async Task A_timeout_set_to_null_is_off()
    {
        var probe = CreateTestProbe();
        var actor = Sys.ActorOf(Props.Create(() => new Sleepy(probe.Ref, TimeSpan.FromMilliseconds(150))));
        actor.Tell("off");
        await probe.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(500));
    }
}
