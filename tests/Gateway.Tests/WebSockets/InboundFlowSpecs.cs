using System.Threading.Channels;
using Gateway.WebSockets;

namespace Gateway.Tests.WebSockets;

public sealed class InboundFlowSpecs
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);

    [Fact]
    public async Task A_flow_under_its_limit_has_credit_at_once()
    {
        var flow = new InboundFlow(100, new InboundBudget(1000));

        flow.Acquire(99);

        Assert.True(flow.HasCredit);
        Assert.True(flow.WaitForCreditAsync(CancellationToken.None).IsCompleted);
        await flow.WaitForCreditAsync(CancellationToken.None);
    }

    [Fact]
    public async Task A_flow_at_its_limit_waits_until_enough_is_released()
    {
        var budget = new InboundBudget(10_000);
        var flow = new InboundFlow(100, budget);
        flow.Acquire(150);

        var wait = flow.WaitForCreditAsync(CancellationToken.None);
        Assert.False(flow.HasCredit);
        Assert.False(wait.IsCompleted);

        flow.Release(50);
        Assert.Equal(100, flow.Pending);
        Assert.False(wait.IsCompleted); // still at the limit

        flow.Release(1);
        await wait.WaitAsync(Timeout);
        Assert.Equal(99, flow.Pending);
        Assert.Equal(99, budget.Pending);
    }

    [Fact]
    public async Task The_shared_budget_pauses_every_flow_until_any_releases()
    {
        var budget = new InboundBudget(100);
        var busy = new InboundFlow(1000, budget);
        var quiet = new InboundFlow(1000, budget);
        busy.Acquire(100);

        var wait = quiet.WaitForCreditAsync(CancellationToken.None);
        Assert.False(budget.HasRoom);
        Assert.False(quiet.HasCredit);
        Assert.False(wait.IsCompleted);

        busy.Release(1);
        await wait.WaitAsync(Timeout);
        Assert.Equal(99, budget.Pending);
        Assert.True(quiet.HasCredit);
    }

    [Fact]
    public async Task Every_waiter_on_the_budget_is_woken()
    {
        var budget = new InboundBudget(10);
        budget.Add(10);

        var waits = Enumerable.Range(0, 5).Select(_ => budget.WaitForRoomAsync()).ToList();
        Assert.All(waits, wait => Assert.False(wait.IsCompleted));

        budget.Release(5);
        await Task.WhenAll(waits).WaitAsync(Timeout);
        Assert.True(budget.HasRoom);
    }

    [Fact]
    public async Task A_wait_is_cancelled_by_its_token()
    {
        var flow = new InboundFlow(1, new InboundBudget(1000));
        flow.Acquire(1);
        using var cancellation = new CancellationTokenSource();

        var wait = flow.WaitForCreditAsync(cancellation.Token);
        await cancellation.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait.WaitAsync(Timeout));
    }

    [Fact]
    public async Task A_wait_after_the_credit_is_back_completes_at_once_and_later_waits_still_wake()
    {
        var flow = new InboundFlow(10, new InboundBudget(1000));
        flow.Acquire(10);
        var first = flow.WaitForCreditAsync(CancellationToken.None);
        flow.Release(10);
        await first.WaitAsync(Timeout);

        flow.Acquire(10);
        var second = flow.WaitForCreditAsync(CancellationToken.None);
        Assert.False(second.IsCompleted);
        flow.Release(5);
        await second.WaitAsync(Timeout);
    }

    [Fact]
    public async Task No_wake_up_is_lost_when_releases_race_the_reader()
    {
        // A read loop that may hold one message at a time, and a releaser on another thread.
        const int Messages = 20_000;
        var budget = new InboundBudget(1);
        var flow = new InboundFlow(1, budget);
        var inFlight = Channel.CreateUnbounded<int>();

        var reader = Task.Run(async () =>
        {
            for (var i = 0; i < Messages; i++)
            {
                await flow.WaitForCreditAsync(CancellationToken.None);
                flow.Acquire(1);
                await inFlight.Writer.WriteAsync(i);
            }
        });
        var releaser = Task.Run(async () =>
        {
            for (var i = 0; i < Messages; i++)
            {
                await inFlight.Reader.ReadAsync();
                flow.Release(1);
            }
        });

        await Task.WhenAll(reader, releaser).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(0, flow.Pending);
        Assert.Equal(0, budget.Pending);
    }
}
