using Gateway.Hosting;

namespace Gateway.Tests.Hosting;

/// <summary>
/// When <see cref="MemoryTrimmer"/> compacts: once a burst of connects or disconnects has settled, at most once per
/// interval, and only in a period with fewer messages than connections (its pause would land on messages in flight),
/// unless messages have not stopped for <see cref="MemoryTrimmer.MaxDeferrals"/> intervals.
/// </summary>
public sealed class MemoryTrimmerSpecs
{
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);

    [Fact]
    public void A_settled_burst_in_a_quiet_period_is_compacted()
    {
        // 15,000 idle connections pinging every 30 s: 2,500 pings in 5 s.
        Assert.True(Decide(sinceTrim: 15_000, recentChurn: 0, threshold: 1_500, recentMessages: 2_500, connections: 15_000));
    }

    [Fact]
    public void Once_every_connection_is_gone_a_settled_burst_is_compacted()
    {
        Assert.True(Decide(sinceTrim: 1_000, recentChurn: 99, threshold: 1_000, recentMessages: 0, connections: 0));
    }

    [Theory]
    [InlineData(10_000, 10_000)] // a message per connection in the period: a fan-out under way
    [InlineData(500_000, 10_000)]
    [InlineData(1, 0)] // every connection gone, yet a message
    public void While_messages_flow_the_compaction_waits(long recentMessages, long connections)
    {
        Assert.False(Decide(sinceTrim: 20_000, recentChurn: 0, threshold: 1_000, recentMessages, connections));
    }

    [Fact]
    public void Messages_that_never_stop_delay_the_compaction_by_at_most_its_bound()
    {
        var bound = MemoryTrimmer.MaxWait(Minute);
        Assert.Equal(Minute * MemoryTrimmer.MaxDeferrals, bound);

        Assert.False(Decide(sinceTrim: 20_000, recentChurn: 0, threshold: 1_000, recentMessages: 500_000, connections: 10_000, dueFor: bound - TimeSpan.FromSeconds(5)));
        Assert.True(Decide(sinceTrim: 20_000, recentChurn: 0, threshold: 1_000, recentMessages: 500_000, connections: 10_000, dueFor: bound));
    }

    [Fact]
    public void A_zero_interval_between_compactions_still_waits_for_a_quiet_period()
    {
        Assert.Equal(TimeSpan.FromSeconds(5) * MemoryTrimmer.MaxDeferrals, MemoryTrimmer.MaxWait(TimeSpan.Zero));
        Assert.False(MemoryTrimmer.ShouldCompact(20_000, 0, 1_000, recentMessages: 500_000, connections: 10_000, Minute, minInterval: TimeSpan.Zero, dueFor: TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public void Too_little_churn_nothing_is_compacted()
    {
        Assert.False(Decide(sinceTrim: 999, recentChurn: 0, threshold: 1_000, recentMessages: 0, connections: 0, dueFor: TimeSpan.FromHours(1)));
    }

    [Fact]
    public void A_burst_still_under_way_is_not_compacted()
    {
        Assert.False(Decide(sinceTrim: 5_000, recentChurn: 100, threshold: 1_000, recentMessages: 0, connections: 5_000, dueFor: TimeSpan.FromHours(1)));
    }

    [Fact]
    public void Within_the_interval_after_a_compaction_nothing_is_compacted()
    {
        Assert.False(Decide(sinceTrim: 5_000, recentChurn: 0, threshold: 1_000, recentMessages: 0, connections: 5_000, sinceLastTrim: Minute - TimeSpan.FromSeconds(1), dueFor: TimeSpan.FromHours(1)));
    }

    private static bool Decide(long sinceTrim, long recentChurn, long threshold, long recentMessages, long connections, TimeSpan? sinceLastTrim = null, TimeSpan? dueFor = null) =>
        MemoryTrimmer.ShouldCompact(sinceTrim, recentChurn, threshold, recentMessages, connections, sinceLastTrim ?? Minute, Minute, dueFor ?? TimeSpan.Zero);
}
