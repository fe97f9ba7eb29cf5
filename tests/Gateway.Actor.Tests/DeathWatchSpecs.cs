namespace Gateway.Tests.Actor;

public sealed class DeathWatchSpecs : TestKit
{
    private sealed record WatchIt(IActorRef Subject, object? Message = null);

    private sealed record UnwatchIt(IActorRef Subject);

    private sealed class Watcher : ReceiveActor
    {
        public Watcher(IActorRef probe, bool handleTerminated = true)
        {
            Receive<WatchIt>(w =>
            {
                if (w.Message is null)
                {
                    Context.Watch(w.Subject);
                }
                else
                {
                    Context.WatchWith(w.Subject, w.Message);
                }

                Sender.Tell("watching");
            });
            Receive<UnwatchIt>(u =>
            {
                Context.Unwatch(u.Subject);
                Sender.Tell("unwatched");
            });
            if (handleTerminated)
            {
                Receive<Terminated>(t => probe.Tell(t));
            }

            Receive<object>(m => probe.Tell(m), m => m is not Terminated);
        }
    }

    [Fact]
    public async Task A_watcher_gets_one_terminated_however_many_times_it_watches_and_the_subject_is_stopped()
    {
        var probe = CreateTestProbe();
        var subject = Sys.ActorOf(Props.Create(() => new EchoActor()));
        var watcher = Sys.ActorOf(Props.Create(() => new Watcher(probe.Ref, true)));

        for (var i = 0; i < 3; i++)
        {
            watcher.Tell(new WatchIt(subject));
            await ExpectMsgAsync("watching");
        }

        Sys.Stop(subject);
        Sys.Stop(subject);
        subject.Tell(PoisonPill.Instance);

        var terminated = await probe.ExpectMsgAsync<Terminated>();
        Assert.Equal(subject, terminated.ActorRef);
        Assert.True(terminated.ExistenceConfirmed);
        await probe.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public async Task Every_watcher_gets_its_own_terminated()
    {
        var subject = Sys.ActorOf(Props.Create(() => new EchoActor()));
        var probes = Enumerable.Range(0, 5).Select(_ => CreateTestProbe()).ToArray();
        foreach (var probe in probes)
        {
            probe.Watch(subject);
        }

        Sys.Stop(subject);

        foreach (var probe in probes)
        {
            await probe.ExpectTerminatedAsync(subject);
        }
    }

    [Fact]
    public async Task Watching_an_actor_that_is_already_dead_gives_terminated_at_once()
    {
        var subject = Sys.ActorOf(Props.Create(() => new EchoActor()));
        Watch(subject);
        Sys.Stop(subject);
        await ExpectTerminatedAsync(subject);

        var probe = CreateTestProbe();
        probe.Watch(subject);
        var terminated = await probe.ExpectTerminatedAsync(subject);
        Assert.False(terminated.ExistenceConfirmed);
    }

    [Fact]
    public async Task WatchWith_delivers_the_given_message_instead_of_terminated()
    {
        var probe = CreateTestProbe();
        var subject = Sys.ActorOf(Props.Create(() => new EchoActor()));
        var watcher = Sys.ActorOf(Props.Create(() => new Watcher(probe.Ref, true)));
        watcher.Tell(new WatchIt(subject, "subject-died"));
        await ExpectMsgAsync("watching");

        Sys.Stop(subject);

        await probe.ExpectMsgAsync("subject-died");
        await probe.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public async Task Unwatch_cancels_the_notification()
    {
        var probe = CreateTestProbe();
        var subject = Sys.ActorOf(Props.Create(() => new EchoActor()));
        var watcher = Sys.ActorOf(Props.Create(() => new Watcher(probe.Ref, true)));
        watcher.Tell(new WatchIt(subject));
        await ExpectMsgAsync("watching");
        watcher.Tell(new UnwatchIt(subject));
        await ExpectMsgAsync("unwatched");

        Watch(subject);
        Sys.Stop(subject);
        await ExpectTerminatedAsync(subject);

        await probe.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public async Task An_unhandled_terminated_is_a_death_pact_that_stops_the_watcher()
    {
        var probe = CreateTestProbe();
        var subject = Sys.ActorOf(Props.Create(() => new EchoActor()));
        var watcher = Sys.ActorOf(Props.Create(() => new Watcher(probe.Ref, false)));
        watcher.Tell(new WatchIt(subject));
        await ExpectMsgAsync("watching");
        Watch(watcher);

        Sys.Stop(subject);

        await ExpectTerminatedAsync(watcher);
    }

    [Fact]
    public async Task Terminated_arrives_after_every_message_the_dead_actor_sent()
    {
        var probe = CreateTestProbe();
        var subject = Sys.ActorOf(Props.Create(() => new EchoActor()));
        probe.Watch(subject);
        for (var i = 0; i < 100; i++)
        {
            subject.Tell(i, probe.Ref);
        }

        subject.Tell(PoisonPill.Instance);

        for (var i = 0; i < 100; i++)
        {
            await probe.ExpectMsgAsync(i);
        }

        await probe.ExpectTerminatedAsync(subject);
    }
}
