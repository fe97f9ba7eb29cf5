namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>
/// Reading the app's recorded callbacks under PROTOCOL.md §2's rule that an attempt the gateway gave up on (a
/// timeout) may be seen again: each event is named by a spec's own <c>describe</c> (action plus what identifies the
/// message).
/// </summary>
public static class CallbackAttempts
{
    /// <summary>The delivered events, each once, in the order of their first delivery.</summary>
    public static List<string> FirstDeliveries(IEnumerable<RecordedCallback> callbacks, Func<RecordedCallback, string> describe) =>
        callbacks.Where(c => c.Delivered).Select(describe).Distinct().ToList();

    /// <summary>
    /// Fails unless every attempt of an event but its last went unanswered (the gateway gave up on it).
    /// </summary>
    public static void AssertOnlyTimedOutAttemptsRepeat(IEnumerable<RecordedCallback> callbacks, Func<RecordedCallback, string> describe)
    {
        foreach (var group in callbacks.GroupBy(describe).Where(g => g.Count() > 1))
        {
            Assert.All(group.SkipLast(1), attempt => Assert.False(attempt.Answered, $"a repeated attempt of {group.Key} had been answered"));
        }
    }
}
