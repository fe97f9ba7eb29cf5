namespace Gateway.Tests.Actor;

public sealed class BehaviorSpecs : TestKit
{
    private sealed class Switch : ReceiveActor
    {
        public Switch()
        {
            Off();
        }

        private void Off()
        {
            Receive<string>(s => s == "on", _ => Become(On));
            Receive<string>(s => s == "push", _ => BecomeStacked(Pushed));
            Receive<string>(_ => Sender.Tell("off"));
        }

        private void On()
        {
            Receive<string>(s => s == "off", _ => Become(Off));
            Receive<string>(_ => Sender.Tell("on"));
        }

        private void Pushed()
        {
            Receive<string>(s => s == "pop", _ => UnbecomeStacked());
            Receive<string>(s => s == "unbecome", _ => Unbecome());
            Receive<string>(_ => Sender.Tell("pushed"));
        }
    }

    private sealed class Counter : UntypedActor
    {
        private int _count;

        protected override void OnReceive(object message)
        {
            if (message is "count")
            {
                Sender.Tell(++_count);
            }
            else
            {
                Unhandled(message);
            }
        }
    }

    [Fact]
    public async Task Become_replaces_the_behaviour()
    {
        var actor = Sys.ActorOf(Props.Create(() => new Switch()));
        actor.Tell("state");
        await ExpectMsgAsync("off");
        actor.Tell("on");
        actor.Tell("state");
        await ExpectMsgAsync("on");
        actor.Tell("off");
        actor.Tell("state");
        await ExpectMsgAsync("off");
    }

    [Fact]
    public async Task BecomeStacked_and_UnbecomeStacked_return_to_the_previous_behaviour()
    {
        var actor = Sys.ActorOf(Props.Create(() => new Switch()));
        actor.Tell("push");
        actor.Tell("state");
        await ExpectMsgAsync("pushed");
        actor.Tell("pop");
        actor.Tell("state");
        await ExpectMsgAsync("off");
    }

    [Fact]
    public async Task Unbecome_is_Akkas_older_name_for_UnbecomeStacked()
    {
        var actor = Sys.ActorOf(Props.Create(() => new Switch()));
        actor.Tell("push");
        actor.Tell("unbecome");
        actor.Tell("state");
        await ExpectMsgAsync("off");
    }

    [Fact]
    public async Task An_untyped_actor_handles_and_reports_unhandled_messages()
    {
        var unhandled = CreateTestProbe();
        Sys.EventStream.Subscribe(unhandled.Ref, typeof(UnhandledMessage));
        var actor = Sys.ActorOf(Props.Create(() => new Counter()));

        actor.Tell("count");
        actor.Tell(3.5);
        actor.Tell("count");

        await ExpectMsgAsync(1);
        await ExpectMsgAsync(2);
        var message = await unhandled.ExpectMsgAsync<UnhandledMessage>();
        Assert.Equal(3.5, message.Message);
        Assert.Equal(actor, message.Recipient);
    }
}
