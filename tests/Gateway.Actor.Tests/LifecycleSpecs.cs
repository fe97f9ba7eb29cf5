namespace Gateway.Tests.Actor;

public sealed class LifecycleSpecs : TestKit
{
    [Fact]
    public async Task Children_stop_before_their_parent_PostStop()
    {
        var probe = CreateTestProbe();
        var parent = Sys.ActorOf(Props.Create(() => new LifecycleReporter(probe.Ref, "parent")));
        await probe.ExpectMsgAsync("parent:prestart");
        for (var i = 0; i < 3; i++)
        {
            var index = i;
            parent.Tell(Props.Create(() => new LifecycleReporter(probe.Ref, $"child{index}")));
            await ExpectMsgAsync<IActorRef>();
            await probe.ExpectMsgAsync($"child{index}:prestart");
        }

        Watch(parent);
        Sys.Stop(parent);

        await probe.ExpectMsgAllOfAsync(["child0:poststop", "child1:poststop", "child2:poststop"]);
        await probe.ExpectMsgAsync("parent:poststop");
        await ExpectTerminatedAsync(parent);
    }

    [Fact]
    public async Task Terminating_the_system_stops_every_actor_and_completes_WhenTerminated()
    {
        var probe = CreateTestProbe();
        Sys.ActorOf(Props.Create(() => new LifecycleReporter(probe.Ref, "a")));
        await probe.ExpectMsgAsync("a:prestart");
        var deadline = Task.Delay(DefaultTimeout);

        var terminate = Sys.Terminate();

        Assert.Same(terminate, await Task.WhenAny(terminate, deadline));
        Assert.True(Sys.WhenTerminated.IsCompletedSuccessfully);
        Assert.Throws<InvalidOperationException>(() => Sys.ActorOf(Props.Create(() => new EchoActor())));
    }

    [Fact]
    public async Task A_throwing_PostStop_does_not_prevent_termination()
    {
        var actor = Sys.ActorOf(Props.Create(() => new ThrowsInPostStop()));
        Watch(actor);
        Sys.Stop(actor);
        await ExpectTerminatedAsync(actor);
    }

    private sealed class ThrowsInPostStop : ReceiveActor
    {
        public ThrowsInPostStop() => ReceiveAny(_ => { });

        protected override void PostStop() => throw new InvalidOperationException("PostStop failure");
    }
}
