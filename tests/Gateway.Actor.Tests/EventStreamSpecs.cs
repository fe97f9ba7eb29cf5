namespace Gateway.Tests.Actor;

public sealed class EventStreamSpecs : TestKit
{
    private interface IAnimal;

    private sealed record Cat(string Name) : IAnimal;

    [Fact]
    public async Task Subscribers_get_events_of_their_type_and_its_subtypes_until_they_unsubscribe()
    {
        var probe = CreateTestProbe();
        Assert.True(Sys.EventStream.Subscribe(probe.Ref, typeof(IAnimal)));
        Assert.False(Sys.EventStream.Subscribe(probe.Ref, typeof(IAnimal)));

        Sys.EventStream.Publish(new Cat("Tom"));
        Sys.EventStream.Publish("not an animal");
        Assert.Equal("Tom", (await probe.ExpectMsgAsync<Cat>()).Name);
        await probe.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(100));

        Assert.True(Sys.EventStream.Unsubscribe(probe.Ref, typeof(IAnimal)));
        Sys.EventStream.Publish(new Cat("Felix"));
        await probe.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public async Task A_message_to_a_stopped_actor_is_published_as_a_dead_letter()
    {
        var deadLetters = CreateTestProbe();
        Sys.EventStream.Subscribe(deadLetters.Ref, typeof(DeadLetter));
        var actor = Sys.ActorOf(Props.Create(() => new EchoActor()));
        Watch(actor);
        Sys.Stop(actor);
        await ExpectTerminatedAsync(actor);

        actor.Tell("lost");

        var letter = await deadLetters.ExpectMsgAsync<DeadLetter>();
        Assert.Equal("lost", letter.Message);
        Assert.Equal(TestActor, letter.Sender);
        Assert.Equal(actor, letter.Recipient);
    }

    [Fact]
    public async Task A_stopped_subscriber_is_unsubscribed()
    {
        var subscriber = Sys.ActorOf(Props.Create(() => new EchoActor()));
        Sys.EventStream.Subscribe(subscriber, typeof(DeadLetter));
        Watch(subscriber);
        Sys.Stop(subscriber);
        await ExpectTerminatedAsync(subscriber);

        await AwaitAssertAsync(() => Assert.False(Sys.EventStream.Unsubscribe(subscriber)));
    }
}
