using System.Diagnostics;

namespace Gateway.Tests.Actor;

/// <summary>
/// Timing specs: they assert how late deadlines fire, so they run on their own, not beside specs that keep
/// both cores busy (see <see cref="TimingCollection"/>).
/// </summary>
[Collection(TimingCollection.Name)]
public sealed class SchedulerSpecs : TestKit
{
    [Fact]
    public async Task ScheduleTellOnce_delivers_after_the_delay_never_early()
    {
        var started = Stopwatch.StartNew();
        Sys.Scheduler.ScheduleTellOnce(TimeSpan.FromMilliseconds(300), TestActor, "tick", ActorRefs.NoSender);

        await ExpectMsgAsync("tick");
        var elapsed = started.Elapsed;
        Assert.True(elapsed >= TimeSpan.FromMilliseconds(300), $"fired early, after {elapsed}");
        // Generous for a loaded CI machine, and still far below one revolution of the system's wheel
        // (512 ticks of 10 ms), which is how late a misplaced entry would fire.
        Assert.True(elapsed < TimeSpan.FromMilliseconds(300) + Dilated(TimeSpan.FromSeconds(1)), $"fired late, after {elapsed}");
    }

    [Fact]
    public async Task A_cancelled_message_is_never_delivered()
    {
        var cancelable = Sys.Scheduler.ScheduleTellOnceCancelable(TimeSpan.FromMilliseconds(100), TestActor, "never", ActorRefs.NoSender);
        var external = new Cancelable();
        Sys.Scheduler.ScheduleTellOnce(TimeSpan.FromMilliseconds(100), TestActor, "never either", ActorRefs.NoSender, external);

        cancelable.Cancel();
        external.Cancel();

        Assert.True(cancelable.IsCancellationRequested);
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(400));
    }

    [Fact]
    public async Task ScheduleTellRepeatedly_repeats_at_its_interval_until_cancelled()
    {
        var started = Stopwatch.StartNew();
        var cancelable = Sys.Scheduler.ScheduleTellRepeatedlyCancelable(TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(100), TestActor, "tick", ActorRefs.NoSender);

        for (var i = 0; i < 5; i++)
        {
            await ExpectMsgAsync("tick");
        }

        var elapsed = started.Elapsed;
        cancelable.Cancel();
        Assert.True(elapsed >= TimeSpan.FromMilliseconds(450), $"five ticks came too fast: {elapsed}");
        await FishForMessageAsync(_ => true, TimeSpan.FromMilliseconds(150)).ContinueWith(_ => { }, TaskScheduler.Default); // at most one already in flight
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public async Task ScheduleOnce_runs_an_action()
    {
        var ran = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Sys.Scheduler.ScheduleOnce(TimeSpan.FromMilliseconds(20), () => ran.TrySetResult());
        await ran.Task.WaitAsync(DefaultTimeout);
    }

    [Fact]
    public async Task The_wheel_fires_a_hundred_thousand_deadlines_each_within_its_slack_and_never_a_cancelled_one()
    {
        // A fine wheel with few buckets (one revolution is 64 x 10 ms), so that most deadlines wait several revolutions.
        var tick = TimeSpan.FromMilliseconds(10);
        using var wheel = new HashedWheelTimerScheduler(tick, ticksPerWheel: 64);
        const int count = 100_000;
        var fired = new long[count];
        var deadlines = new long[count];
        var cancelled = new bool[count];
        var remaining = new CountdownEvent(count - (count / 10));
        var receiver = new Recorder(fired, remaining, wheel);
        var random = new Random(7);

        for (var i = 0; i < count; i++)
        {
            var delay = TimeSpan.FromMilliseconds(random.Next(0, 2_000));
            deadlines[i] = (long)(wheel.MonotonicClock + delay).TotalMilliseconds;
            var handle = wheel.ScheduleTellOnceCancelable(delay, receiver, i, null);
            if (i % 10 == 0)
            {
                handle.Cancel();
                cancelled[i] = true;
            }
        }

        Assert.True(remaining.Wait(Dilated(TimeSpan.FromSeconds(15))), $"{remaining.CurrentCount} deadlines never fired");
        await Task.Delay(100); // let any wrongly fired cancelled entry show up

        // Under one revolution (640 ms), so an entry fired a revolution late still fails, with room for a
        // busy 2-core machine where 90,000 callbacks share the cores with other test assemblies.
        var slack = tick + TimeSpan.FromMilliseconds(450);
        var worst = TimeSpan.Zero;
        for (var i = 0; i < count; i++)
        {
            if (cancelled[i])
            {
                Assert.Equal(0, Interlocked.Read(ref fired[i]));
                continue;
            }

            var lateness = TimeSpan.FromMilliseconds(fired[i] - deadlines[i]);
            Assert.True(lateness >= TimeSpan.FromMilliseconds(-1), $"deadline {i} fired {-lateness.TotalMilliseconds} ms early");
            worst = lateness > worst ? lateness : worst;
        }

        Assert.True(worst <= slack, $"the latest deadline fired {worst.TotalMilliseconds} ms late (slack {slack.TotalMilliseconds} ms)");
    }

    private sealed class Recorder(long[] fired, CountdownEvent remaining, HashedWheelTimerScheduler wheel) : ICanTell
    {
        public void Tell(object message, IActorRef? sender)
        {
            var index = (int)message;
            Interlocked.Exchange(ref fired[index], (long)wheel.MonotonicClock.TotalMilliseconds);
            remaining.Signal();
        }
    }
}
