namespace Gateway.Tests.Actor;

public sealed class ReceiveAsyncSpecs : TestKit
{
    private sealed class AsyncWorker : ReceiveActor
    {
        public AsyncWorker(IActorRef probe, Task gate)
        {
            ReceiveAsync<string>(async text =>
            {
                probe.Tell($"start:{text}");
                await gate;
                await Task.Yield();
                // Back on the actor's turn: Context, Self and Sender are intact.
                Sender.Tell($"done:{text}:{Context.Self.Path.Name}");
            }, s => s != "fail");
            ReceiveAsync<string>(async _ =>
            {
                await Task.Yield();
                throw new InvalidOperationException("async failure");
            });
            Receive<int>(n => probe.Tell(n));
        }

        protected override void PostRestart(Exception reason) => Context.System.EventStream.Publish(reason);
    }

    [Fact]
    public async Task No_other_message_is_processed_until_the_async_handler_completes()
    {
        var probe = CreateTestProbe();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var actor = Sys.ActorOf(Props.Create(() => new AsyncWorker(probe.Ref, gate.Task)), "worker");

        actor.Tell("a");
        actor.Tell(1);
        await probe.ExpectMsgAsync("start:a");
        await probe.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(200));

        gate.SetResult();

        await ExpectMsgAsync("done:a:worker");
        await probe.ExpectMsgAsync(1);
    }

    [Fact]
    public async Task A_faulted_async_handler_is_a_failure_handled_by_the_supervisor()
    {
        var failures = CreateTestProbe();
        Sys.EventStream.Subscribe(failures.Ref, typeof(InvalidOperationException));
        var probe = CreateTestProbe();
        var actor = Sys.ActorOf(Props.Create(() => new AsyncWorker(probe.Ref, Task.CompletedTask)));

        actor.Tell("fail");
        actor.Tell(2);

        var reason = await failures.ExpectMsgAsync<InvalidOperationException>();
        Assert.Equal("async failure", reason.Message);
        await probe.ExpectMsgAsync(2); // the mailbox survived the restart
    }
}
