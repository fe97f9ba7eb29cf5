namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>A thread-safe, append-only list of output lines that can be awaited.</summary>
public sealed class OutputLog
{
    private readonly Lock _gate = new();
    private readonly List<string> _lines = [];
    private TaskCompletionSource _changed = NewSignal();

    /// <summary>How many lines so far.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _lines.Count;
            }
        }
    }

    /// <summary>A snapshot of every line.</summary>
    public IReadOnlyList<string> Lines => Since(0);

    /// <summary>Appends a line and wakes the waiters.</summary>
    public void Add(string line)
    {
        TaskCompletionSource changed;
        lock (_gate)
        {
            _lines.Add(line);
            changed = _changed;
            _changed = NewSignal();
        }

        changed.TrySetResult();
    }

    /// <summary>A snapshot of the lines from index <paramref name="start"/> on.</summary>
    public IReadOnlyList<string> Since(int start)
    {
        lock (_gate)
        {
            return start >= _lines.Count ? [] : _lines.GetRange(start, _lines.Count - start);
        }
    }

    /// <summary>Waits for a line matching <paramref name="predicate"/> (one already there counts) and returns it.</summary>
    public async Task<string> WaitForAsync(Func<string, bool> predicate, TimeSpan? timeout = null, string? what = null)
    {
        var limit = timeout ?? TestTimeouts.Default;
        using var cancel = new CancellationTokenSource(limit);
        var seen = 0;
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                for (; seen < _lines.Count; seen++)
                {
                    if (predicate(_lines[seen]))
                    {
                        return _lines[seen];
                    }
                }

                changed = _changed.Task;
            }

            try
            {
                await changed.WaitAsync(cancel.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"Timed out after {limit} waiting for an output line: {what ?? "matching the predicate"}");
            }
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
