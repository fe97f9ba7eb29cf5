namespace Gateway.Tests.Actor;

public sealed class SupervisionSpecs : TestKit
{
    private sealed class FailingConstructor : ReceiveActor
    {
        public FailingConstructor() => throw new InvalidOperationException("cannot start");
    }

    private async Task<IActorRef> ChildOf(IActorRef supervisor, Props props, string name)
    {
        supervisor.Tell((props, name));
        return await ExpectMsgAsync<IActorRef>();
    }

    private IActorRef NewSupervisor(SupervisorStrategy strategy) =>
        Sys.ActorOf(Props.Create(() => new Supervisor(strategy)));

    [Fact]
    public void The_default_decider_stops_on_initialization_kill_and_death_pact_and_restarts_otherwise()
    {
        Assert.Equal(Directive.Stop, SupervisorStrategy.DefaultDecider(new ActorInitializationException("x")));
        Assert.Equal(Directive.Stop, SupervisorStrategy.DefaultDecider(new ActorKilledException()));
        Assert.Equal(Directive.Stop, SupervisorStrategy.DefaultDecider(new DeathPactException("x")));
        Assert.Equal(Directive.Restart, SupervisorStrategy.DefaultDecider(new InvalidOperationException()));
    }

    [Fact]
    public async Task Resume_keeps_the_instance_and_its_state()
    {
        var probe = CreateTestProbe();
        var supervisor = NewSupervisor(new OneForOneStrategy(_ => Directive.Resume));
        var child = await ChildOf(supervisor, Props.Create(() => new LifecycleReporter(probe.Ref, "c")), "c");
        await probe.ExpectMsgAsync("c:prestart");

        child.Tell("inc");
        child.Tell("fail");
        child.Tell("inc");
        child.Tell("state");

        Assert.Equal(2, await ExpectMsgAsync<int>());
        await probe.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public async Task Restart_replaces_the_instance_runs_the_hooks_in_order_and_keeps_the_mailbox()
    {
        var probe = CreateTestProbe();
        var supervisor = NewSupervisor(SupervisorStrategy.DefaultStrategy);
        var child = await ChildOf(supervisor, Props.Create(() => new LifecycleReporter(probe.Ref, "c")), "c");
        await probe.ExpectMsgAsync("c:prestart");

        child.Tell("inc");
        child.Tell("fail");
        child.Tell("queued-behind-the-failure");
        child.Tell("state");

        await probe.ExpectMsgAsync("c:prerestart:fail");
        await probe.ExpectMsgAsync("c:poststop");
        await probe.ExpectMsgAsync("c:postrestart:boom");
        await probe.ExpectMsgAsync("c:prestart");
        await probe.ExpectMsgAsync("queued-behind-the-failure");
        Assert.Equal(0, await ExpectMsgAsync<int>()); // a fresh instance: the increment is gone
    }

    [Fact]
    public async Task Stop_directive_stops_the_child()
    {
        var probe = CreateTestProbe();
        var supervisor = NewSupervisor(SupervisorStrategy.StoppingStrategy);
        var child = await ChildOf(supervisor, Props.Create(() => new LifecycleReporter(probe.Ref, "c")), "c");
        await probe.ExpectMsgAsync("c:prestart");
        Watch(child);

        child.Tell("fail");

        await probe.ExpectMsgAsync("c:poststop");
        await ExpectTerminatedAsync(child);
    }

    [Fact]
    public async Task Escalate_lets_the_grandparent_decide_for_the_parent()
    {
        var probe = CreateTestProbe();
        // Top supervisor restarts its failing child (the middle one), whose default PreRestart stops the grandchild.
        var top = NewSupervisor(new OneForOneStrategy(_ => Directive.Restart));
        var middle = await ChildOf(top, Props.Create(() => new Supervisor(new OneForOneStrategy(_ => Directive.Escalate))), "middle");
        var leaf = await ChildOf(middle, Props.Create(() => new LifecycleReporter(probe.Ref, "leaf")), "leaf");
        await probe.ExpectMsgAsync("leaf:prestart");
        Watch(leaf);

        leaf.Tell("fail");

        await probe.ExpectMsgAsync("leaf:poststop");
        await ExpectTerminatedAsync(leaf);
        middle.Tell((Props.Create(() => new EchoActor()), "after-restart"));
        Assert.Equal("after-restart", (await ExpectMsgAsync<IActorRef>()).Path.Name);
    }

    [Fact]
    public async Task Restarts_beyond_the_limit_within_the_window_stop_the_child()
    {
        var probe = CreateTestProbe();
        var supervisor = NewSupervisor(new OneForOneStrategy(2, TimeSpan.FromMinutes(1), _ => Directive.Restart));
        var child = await ChildOf(supervisor, Props.Create(() => new LifecycleReporter(probe.Ref, "c")), "c");
        await probe.ExpectMsgAsync("c:prestart");
        Watch(child);

        for (var restart = 1; restart <= 2; restart++)
        {
            child.Tell("fail");
            await probe.FishForMessageAsync(m => m is "c:prestart");
        }

        child.Tell("fail");
        await ExpectTerminatedAsync(child);
    }

    [Fact]
    public void The_restart_count_starts_again_after_the_window()
    {
        var stats = new ChildRestartStats();
        var window = TimeSpan.FromMilliseconds(200);

        Assert.True(stats.RequestRestartPermission(1, window));
        Assert.False(stats.RequestRestartPermission(1, window));

        var elapsed = System.Diagnostics.Stopwatch.StartNew();
        SpinWait.SpinUntil(() => elapsed.Elapsed > window + TimeSpan.FromMilliseconds(20));
        Assert.True(stats.RequestRestartPermission(1, window));
    }

    [Fact]
    public void Restart_limits_without_a_window_count_forever_and_zero_means_never()
    {
        var stats = new ChildRestartStats();
        Assert.True(stats.RequestRestartPermission(2, null));
        Assert.True(stats.RequestRestartPermission(2, null));
        Assert.False(stats.RequestRestartPermission(2, null));
        Assert.False(new ChildRestartStats().RequestRestartPermission(0, null));
        Assert.True(new ChildRestartStats().RequestRestartPermission(-1, null));
    }

    [Fact]
    public async Task All_for_one_restarts_the_siblings_of_a_failing_child()
    {
        var probe = CreateTestProbe();
        var supervisor = NewSupervisor(new AllForOneStrategy(_ => Directive.Restart));
        var a = await ChildOf(supervisor, Props.Create(() => new LifecycleReporter(probe.Ref, "a")), "a");
        await probe.ExpectMsgAsync("a:prestart");
        var b = await ChildOf(supervisor, Props.Create(() => new LifecycleReporter(probe.Ref, "b")), "b");
        await probe.ExpectMsgAsync("b:prestart");
        b.Tell("inc");
        b.Tell("state");
        Assert.Equal(1, await ExpectMsgAsync<int>()); // b's state is set before a fails, not by a message racing its restart

        a.Tell("fail");

        var restarted = new HashSet<string>();
        while (restarted.Count < 2)
        {
            var message = (string)await probe.FishForMessageAsync(m => m is string s && s.EndsWith(":postrestart:boom", StringComparison.Ordinal));
            restarted.Add(message[..1]);
        }

        b.Tell("state");
        Assert.Equal(0, await ExpectMsgAsync<int>());
    }

    [Fact]
    public async Task An_actor_whose_constructor_throws_is_stopped_by_default()
    {
        var actor = Sys.ActorOf(Props.Create(() => new FailingConstructor()));
        Watch(actor);
        await ExpectTerminatedAsync(actor);
    }

    [Fact]
    public async Task Kill_stops_the_actor_under_the_default_strategy()
    {
        var probe = CreateTestProbe();
        var actor = Sys.ActorOf(Props.Create(() => new LifecycleReporter(probe.Ref, "k")));
        await probe.ExpectMsgAsync("k:prestart");
        Watch(actor);

        actor.Tell(Kill.Instance);

        await probe.ExpectMsgAsync("k:poststop");
        await ExpectTerminatedAsync(actor);
    }

    [Fact]
    public async Task The_default_pre_restart_stops_children_before_the_new_instance_starts()
    {
        var probe = CreateTestProbe();
        var parent = Sys.ActorOf(Props.Create(() => new LifecycleReporter(probe.Ref, "p")));
        await probe.ExpectMsgAsync("p:prestart");
        parent.Tell(Props.Create(() => new LifecycleReporter(probe.Ref, "child")));
        var child = await ExpectMsgAsync<IActorRef>();
        await probe.ExpectMsgAsync("child:prestart");
        Watch(child);

        parent.Tell("fail");

        await probe.ExpectMsgAsync("p:prerestart:fail");
        // The parent's PostStop runs inside PreRestart while its child stops concurrently...
        await probe.ExpectMsgAllOfAsync(["child:poststop", "p:poststop"]);
        // ...but the new instance starts only once the child is gone.
        await probe.ExpectMsgAsync("p:postrestart:boom");
        await probe.ExpectMsgAsync("p:prestart");
        await ExpectTerminatedAsync(child);
    }
}
