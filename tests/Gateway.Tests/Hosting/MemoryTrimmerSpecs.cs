using Gateway.Hosting;

namespace Gateway.Tests.Hosting;

/// <summary>
/// When <see cref="MemoryTrimmer"/> compacts: once a burst of connects or disconnects has settled, at most once per
/// interval, and only in a period with fewer messages than connections (its pause would land on messages in flight).
/// </summary>
public sealed class MemoryTrimmerSpecs
{
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);

    [Fact]
    public void A_settled_burst_in_a_quiet_period_is_compacted()
    {
        Assert.True(MemoryTrimmer.ShouldCompact(sinceTrim: 15_000, recentChurn: 0, threshold: 1_500, recentMessages: 2_500, connections: 15_000, sinceLastTrim: Minute, minInterval: Minute));
    }

    [Theory]
    [InlineData(10_000, 10_000)] // a message per connection in the period: a fan-out under way
    [InlineData(500_000, 10_000)]
    [InlineData(1, 0)] // every connection gone, yet a message
    public void While_messages_flow_the_compaction_waits(long recentMessages, long connections)
    {
        Assert.False(MemoryTrimmer.ShouldCompact(sinceTrim: 20_000, recentChurn: 0, threshold: 1_000, recentMessages, connections, sinceLastTrim: Minute, minInterval: Minute));
    }

    [Fact]
    public void Without_a_settled_burst_or_within_the_interval_nothing_is_compacted()
    {
        Assert.False(MemoryTrimmer.ShouldCompact(sinceTrim: 999, recentChurn: 0, threshold: 1_000, recentMessages: 0, connections: 0, sinceLastTrim: Minute, minInterval: Minute)); // too little churn
        Assert.False(MemoryTrimmer.ShouldCompact(sinceTrim: 5_000, recentChurn: 100, threshold: 1_000, recentMessages: 0, connections: 5_000, sinceLastTrim: Minute, minInterval: Minute)); // still churning
        Assert.False(MemoryTrimmer.ShouldCompact(sinceTrim: 5_000, recentChurn: 0, threshold: 1_000, recentMessages: 0, connections: 5_000, sinceLastTrim: Minute - TimeSpan.FromSeconds(1), minInterval: Minute));
        Assert.True(MemoryTrimmer.ShouldCompact(sinceTrim: 1_000, recentChurn: 99, threshold: 1_000, recentMessages: 0, connections: 0, sinceLastTrim: Minute, minInterval: Minute)); // all disconnected, settled
    }
}
