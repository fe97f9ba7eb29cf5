namespace Gateway.Tests.Actor;

public sealed class ActorRefSpecs : TestKit
{
    private sealed class Plain : ReceiveActor
    {
        public Plain() => ReceiveAny(_ => { });
    }

    private sealed class LateRegistration : ReceiveActor
    {
        public LateRegistration() => Receive<string>(_ => Sender.Tell(Record(() => Receive<int>(_ => { }))));

        private static object Record(Action action)
        {
            try
            {
                action();
                return "allowed";
            }
            catch (InvalidOperationException exception)
            {
                return exception;
            }
        }
    }

    [Fact]
    public void An_actor_cannot_be_created_with_new()
    {
        Assert.Throws<ActorInitializationException>(() => new Plain());
    }

    [Fact]
    public async Task Actors_are_created_under_user_with_their_names_and_generated_names()
    {
        var named = Sys.ActorOf(Props.Create(() => new EchoActor()), "echo");
        var unnamed = Sys.ActorOf(Props.Create(() => new EchoActor()));

        Assert.Equal("akka://test/user/echo", named.Path.ToString());
        Assert.StartsWith("akka://test/user/$", unnamed.Path.ToString(), StringComparison.Ordinal);
        Assert.Equal(["user", "echo"], named.Path.Elements);

        named.Tell("hello");
        Assert.Equal("hello", await ExpectMsgAsync<string>());
        Assert.Equal(named, LastSender);
    }

    [Fact]
    public void A_taken_or_malformed_name_is_refused()
    {
        Sys.ActorOf(Props.Create(() => new EchoActor()), "taken");

        Assert.Throws<InvalidActorNameException>(() => Sys.ActorOf(Props.Create(() => new EchoActor()), "taken"));
        Assert.Throws<InvalidActorNameException>(() => Sys.ActorOf(Props.Create(() => new EchoActor()), "$reserved"));
        Assert.Throws<InvalidActorNameException>(() => Sys.ActorOf(Props.Create(() => new EchoActor()), "a/b"));
        Assert.Throws<InvalidActorNameException>(() => Sys.ActorOf(Props.Create(() => new EchoActor()), string.Empty));
    }

    [Fact]
    public async Task A_name_is_free_again_once_its_actor_has_stopped()
    {
        var first = Sys.ActorOf(Props.Create(() => new EchoActor()), "reused");
        Watch(first);
        Sys.Stop(first);
        await ExpectTerminatedAsync(first);

        var second = Sys.ActorOf(Props.Create(() => new EchoActor()), "reused");

        Assert.NotEqual(first, second);
        Assert.Equal(first.Path, second.Path);
    }

    [Fact]
    public async Task Receive_handlers_can_only_be_registered_during_construction()
    {
        var actor = Sys.ActorOf(Props.Create(() => new LateRegistration()));
        actor.Tell("try");
        await ExpectMsgAsync<InvalidOperationException>();
    }

    [Fact]
    public async Task Identify_is_answered_with_the_actor_itself()
    {
        var actor = Sys.ActorOf(Props.Create(() => new Plain()));
        actor.Tell(new Identify(42));
        var identity = await ExpectMsgAsync<ActorIdentity>();
        Assert.Equal(42, identity.MessageId);
        Assert.Equal(actor, identity.Subject);
    }

    [Fact]
    public async Task Messages_told_to_nobody_are_dropped_and_watching_nobody_terminates_at_once()
    {
        ActorRefs.Nobody.Tell("ignored");
        Watch(ActorRefs.Nobody);
        var terminated = await ExpectTerminatedAsync(ActorRefs.Nobody);
        Assert.False(terminated.ExistenceConfirmed);
    }
}
