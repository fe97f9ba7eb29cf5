namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>Waiting on conditions with a deadline, never on a fixed sleep.</summary>
public static class Wait
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(20);

    /// <summary>Polls <paramref name="condition"/> until it holds; throws <see cref="TimeoutException"/> naming <paramref name="what"/> otherwise.</summary>
    public static async Task UntilAsync(Func<bool> condition, TimeSpan? timeout = null, string what = "condition")
    {
        var deadline = DateTime.UtcNow + (timeout ?? TestTimeouts.Default);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out after {timeout ?? TestTimeouts.Default} waiting for {what}");
            }

            await Task.Delay(PollInterval).ConfigureAwait(false);
        }
    }

    /// <summary>Polls the async <paramref name="condition"/> until it holds.</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan? timeout = null, string what = "condition")
    {
        var deadline = DateTime.UtcNow + (timeout ?? TestTimeouts.Default);
        while (!await condition().ConfigureAwait(false))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out after {timeout ?? TestTimeouts.Default} waiting for {what}");
            }

            await Task.Delay(PollInterval).ConfigureAwait(false);
        }
    }

    /// <summary><paramref name="task"/>'s result, or a <see cref="TimeoutException"/> naming <paramref name="what"/>.</summary>
    public static async Task<T> ForAsync<T>(Task<T> task, TimeSpan? timeout = null, string what = "result")
    {
        try
        {
            return await task.WaitAsync(timeout ?? TestTimeouts.Default).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Timed out after {timeout ?? TestTimeouts.Default} waiting for {what}");
        }
    }
}
