namespace Gateway.Tests.Actor;

public sealed class AskSpecs : TestKit
{
    private sealed class Replier : ReceiveActor
    {
        public Replier()
        {
            Receive<string>(s => s == "fail", _ => Sender.Tell(new Status.Failure(new InvalidOperationException("refused"))));
            Receive<string>(s => s == "silence", _ => { });
            Receive<string>(s => s == "number", _ => Sender.Tell(42));
            Receive<string>(s => Sender.Tell(s.ToUpperInvariant()));
            Receive<Task<int>>(task => task.PipeTo(Sender));
        }
    }

    [Fact]
    public async Task Ask_returns_the_reply()
    {
        var replier = Sys.ActorOf(Props.Create(() => new Replier()));
        Assert.Equal("HELLO", await replier.Ask<string>("hello", DefaultTimeout));
    }

    [Fact]
    public async Task Ask_without_a_reply_times_out_with_AskTimeoutException()
    {
        var replier = Sys.ActorOf(Props.Create(() => new Replier()));
        await Assert.ThrowsAsync<AskTimeoutException>(() => replier.Ask<string>("silence", TimeSpan.FromMilliseconds(100)));
    }

    [Fact]
    public async Task A_status_failure_reply_faults_the_ask_with_its_cause()
    {
        var replier = Sys.ActorOf(Props.Create(() => new Replier()));
        var exception = await Assert.ThrowsAsync<InvalidOperationException>(() => replier.Ask<string>("fail", DefaultTimeout));
        Assert.Equal("refused", exception.Message);
    }

    [Fact]
    public async Task A_reply_of_the_wrong_type_faults_the_ask()
    {
        var replier = Sys.ActorOf(Props.Create(() => new Replier()));
        await Assert.ThrowsAsync<InvalidCastException>(() => replier.Ask<string>("number", DefaultTimeout));
    }

    [Fact]
    public async Task A_cancelled_token_cancels_the_ask()
    {
        var replier = Sys.ActorOf(Props.Create(() => new Replier()));
        using var cancellation = new CancellationTokenSource();
        var ask = replier.Ask<string>("silence", null, cancellation.Token);
        await cancellation.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ask);
    }

    [Fact]
    public async Task Asking_a_dead_actor_times_out()
    {
        var replier = Sys.ActorOf(Props.Create(() => new Replier()));
        Watch(replier);
        Sys.Stop(replier);
        await ExpectTerminatedAsync(replier);
        await Assert.ThrowsAsync<AskTimeoutException>(() => replier.Ask<string>("hello", TimeSpan.FromMilliseconds(100)));
    }

    [Fact]
    public async Task PipeTo_sends_a_task_result_or_its_failure()
    {
        var replier = Sys.ActorOf(Props.Create(() => new Replier()));

        replier.Tell(Task.FromResult(7));
        Assert.Equal(7, await ExpectMsgAsync<int>());

        replier.Tell(Task.FromException<int>(new TimeoutException("late")));
        var failure = await ExpectMsgAsync<Status.Failure>();
        Assert.IsType<TimeoutException>(failure.Cause);
    }
}
