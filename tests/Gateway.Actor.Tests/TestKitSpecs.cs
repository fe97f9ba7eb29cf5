using Xunit.Sdk;

namespace Gateway.Tests.Actor;

public sealed class TestKitSpecs : TestKit
{
    [Fact]
    public async Task Tell_from_test_code_has_the_test_actor_as_implicit_sender_even_after_an_await()
    {
        var echo = Sys.ActorOf(Props.Create(() => new EchoActor()));
        await Task.Yield();
        await Task.Delay(1);
        echo.Tell("back to me");
        await ExpectMsgAsync("back to me");
    }

    [Fact]
    public async Task Expectations_fail_on_timeout_wrong_type_wrong_value_and_unexpected_messages()
    {
        await Assert.ThrowsAsync<XunitException>(() => ExpectMsgAsync<string>(timeout: TimeSpan.FromMilliseconds(50)));

        TestActor.Tell(1);
        await Assert.ThrowsAsync<XunitException>(() => ExpectMsgAsync<string>());

        TestActor.Tell("a");
        await Assert.ThrowsAsync<XunitException>(() => ExpectMsgAsync("b"));

        TestActor.Tell("c");
        await Assert.ThrowsAsync<XunitException>(() => ExpectMsgAsync<string>(s => s == "d"));

        TestActor.Tell("surprise");
        await Assert.ThrowsAsync<XunitException>(() => ExpectNoMsgAsync(TimeSpan.FromMilliseconds(100)));
    }

    [Fact]
    public async Task WithinAsync_fails_a_block_that_takes_too_long_and_bounds_the_expectations_inside()
    {
        await Assert.ThrowsAsync<XunitException>(() => WithinAsync(TimeSpan.FromMilliseconds(100), () => Task.Delay(300)));
        await Assert.ThrowsAsync<XunitException>(() => WithinAsync(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(1), () => Task.CompletedTask));

        var started = System.Diagnostics.Stopwatch.StartNew();
        await Assert.ThrowsAsync<XunitException>(() => WithinAsync(Dilated(TimeSpan.FromMilliseconds(300)), () => ExpectMsgAsync<string>()));
        Assert.True(started.Elapsed < DefaultTimeout, "the expectation inside did not use the time left in the block");
    }

    [Fact]
    public async Task Probes_send_reply_and_forward_with_the_right_senders()
    {
        var a = CreateTestProbe("a");
        var b = CreateTestProbe("b");

        a.Send(b.Ref, "hello");
        await b.ExpectMsgAsync("hello");
        Assert.Equal(a.Ref, b.LastSender);

        b.Reply("hi");
        await a.ExpectMsgAsync("hi");

        b.Forward(TestActor);
        await ExpectMsgAsync("hello");
        Assert.Equal(a.Ref, LastSender);
    }

    [Fact]
    public async Task FishForMessage_skips_until_a_match_and_AwaitAssert_retries_until_it_passes()
    {
        TestActor.Tell(1);
        TestActor.Tell(2);
        TestActor.Tell("found");
        Assert.Equal("found", await FishForMessageAsync(m => m is string));

        var attempts = 0;
        await AwaitAssertAsync(() => Assert.True(++attempts >= 3), interval: TimeSpan.FromMilliseconds(10));
        Assert.Equal(3, attempts);

        await Assert.ThrowsAsync<TrueException>(() => AwaitAssertAsync(() => Assert.True(false), TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(10)));
    }
}
