namespace Gateway.WebSockets;

/// <summary>
/// Inbound backpressure across all connections: the bytes read from clients and still waiting for
/// the app. When the total is over its bound every socket pauses reading until callbacks drain.
/// </summary>
internal sealed class InboundBudget(long limit)
{
    private readonly Lock _gate = new();
    private long _pending;
    private TaskCompletionSource? _available;

    public long Limit { get; } = limit;

    public long Pending => Volatile.Read(ref _pending);

    public bool HasRoom => Volatile.Read(ref _pending) < Limit;

    public void Add(long bytes) => Interlocked.Add(ref _pending, bytes);

    public void Release(long bytes)
    {
        var now = Interlocked.Add(ref _pending, -bytes);
        if (now < Limit && Volatile.Read(ref _available) is not null)
        {
            TaskCompletionSource? waiters;
            lock (_gate)
            {
                waiters = _available;
                _available = null;
            }

            waiters?.TrySetResult();
        }
    }

    public Task WaitForRoomAsync()
    {
        lock (_gate)
        {
            if (HasRoom)
            {
                return Task.CompletedTask;
            }

            _available ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var wait = _available.Task;

            // A release between the check above and publishing the waiter would not have seen it.
            Interlocked.MemoryBarrier();
            return HasRoom ? Task.CompletedTask : wait;
        }
    }
}

/// <summary>
/// One connection's inbound backpressure: bytes forwarded to the app and not yet acknowledged
/// (delivered, or definitively refused). The socket's read loop waits while they exceed the
/// per-connection bound or the shared budget is exhausted; the callback pipeline releases them.
/// </summary>
internal sealed class InboundFlow(long limit, InboundBudget budget)
{
    private long _pending;
    private TaskCompletionSource? _waiter;

    public long Pending => Volatile.Read(ref _pending);

    public bool HasCredit => Volatile.Read(ref _pending) < limit && budget.HasRoom;

    /// <summary>Counts <paramref name="bytes"/> as waiting for the app.</summary>
    public void Acquire(long bytes)
    {
        Interlocked.Add(ref _pending, bytes);
        budget.Add(bytes);
    }

    /// <summary>The app has dealt with <paramref name="bytes"/>; wakes the read loop if it was waiting.</summary>
    public void Release(long bytes)
    {
        var now = Interlocked.Add(ref _pending, -bytes);
        budget.Release(bytes);
        if (now < limit && Volatile.Read(ref _waiter) is not null)
        {
            TaskCompletionSource? waiter;
            lock (this)
            {
                waiter = _waiter;
                _waiter = null;
            }

            waiter?.TrySetResult();
        }
    }

    /// <summary>Completes when this connection may read again.</summary>
    public async Task WaitForCreditAsync(CancellationToken cancellationToken)
    {
        while (!HasCredit)
        {
            if (Volatile.Read(ref _pending) >= limit)
            {
                Task wait;
                lock (this)
                {
                    if (Volatile.Read(ref _pending) < limit)
                    {
                        continue;
                    }

                    _waiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    wait = _waiter.Task;
                }

                // A release between the check above and publishing the waiter would not have seen it.
                Interlocked.MemoryBarrier();
                if (Volatile.Read(ref _pending) < limit)
                {
                    continue;
                }

                await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await budget.WaitForRoomAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
