namespace Gateway.WebSockets;

/// <summary>
/// Inbound memory across all connections (<c>Gateway:Limits:InboundPendingBytesTotal</c>): the bytes read from
/// clients and still waiting for the app, and the bytes of messages still arriving (partial messages, counted
/// as their bytes are received, never as a frame header declares).
/// </summary>
/// <remarks>
/// Two rules share the one bound. Backpressure: while the bytes waiting for the app reach it, every socket
/// pauses reading after its current message until callbacks drain (partial messages do not count here, so
/// clients that hold half-sent messages cannot stop everyone else). Assembly: a partial message grows only
/// while everything counted is under the bound; otherwise it waits for callbacks to make room, or, when
/// nothing waits for the app (the budget is all partial messages, and no callback will ever free it), its
/// connection is closed with 1013. Together the bytes held stay under twice the bound.
/// </remarks>
internal sealed class InboundBudget(long limit)
{
    private readonly Lock _gate = new();
    private long _pending;
    private long _partial;
    private TaskCompletionSource? _available;

    public long Limit { get; } = limit;

    /// <summary>Everything counted: bytes waiting for the app plus bytes of partial messages.</summary>
    public long Pending => Volatile.Read(ref _pending);

    /// <summary>Bytes of messages still arriving.</summary>
    public long Partial => Volatile.Read(ref _partial);

    /// <summary>Bytes waiting for the app: the part of the budget that callbacks will give back.</summary>
    public long AwaitingApp => Volatile.Read(ref _pending) - Volatile.Read(ref _partial);

    /// <summary>Whether complete messages may be read (backpressure on what waits for the app).</summary>
    public bool HasRoom => AwaitingApp < Limit;

    /// <summary>Whether a partial message may grow (everything counted is under the bound).</summary>
    public bool HasRoomForPartial => Volatile.Read(ref _pending) < Limit;

    /// <summary>True when the budget is full and nothing in it waits for the app: only closing a connection frees room.</summary>
    public bool IsStalled => !HasRoomForPartial && AwaitingApp <= 0;

    public void Add(long bytes) => Interlocked.Add(ref _pending, bytes);

    public void Release(long bytes)
    {
        Interlocked.Add(ref _pending, -bytes);
        Wake();
    }

    /// <summary>Counts <paramref name="bytes"/> of a message that is still arriving.</summary>
    public void AddPartial(long bytes)
    {
        // Orders chosen so that a concurrent reader never sees less waiting for the app than there is.
        Interlocked.Add(ref _pending, bytes);
        Interlocked.Add(ref _partial, bytes);
    }

    /// <summary>A partial message was completed (its bytes are counted again by whoever takes it) or dropped.</summary>
    public void ReleasePartial(long bytes)
    {
        Interlocked.Add(ref _partial, -bytes);
        Interlocked.Add(ref _pending, -bytes);
        Wake();
    }

    /// <summary>Completes when complete messages may be read again (<see cref="HasRoom"/>), or at once.</summary>
    public Task WaitForRoomAsync() => WaitAsync(static budget => budget.HasRoom);

    /// <summary>Completes when a partial message may grow, or when the budget <see cref="IsStalled"/>.</summary>
    public Task WaitForPartialRoomAsync() => WaitAsync(static budget => budget.HasRoomForPartial || budget.IsStalled);

    private Task WaitAsync(Func<InboundBudget, bool> ready)
    {
        lock (_gate)
        {
            if (ready(this))
            {
                return Task.CompletedTask;
            }

            _available ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var wait = _available.Task;

            // A release between the check above and publishing the waiter would not have seen it.
            Interlocked.MemoryBarrier();
            return ready(this) ? Task.CompletedTask : wait;
        }
    }

    /// <summary>Wakes every waiter after a release; each checks its own condition again.</summary>
    private void Wake()
    {
        if (Volatile.Read(ref _available) is not null)
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

    /// <summary>The process-wide budget this connection draws on.</summary>
    public InboundBudget Budget => budget;

    public bool HasCredit => Volatile.Read(ref _pending) < limit && budget.HasRoom;

    private volatile bool _holdsBackReading;

    /// <summary>
    /// Whether this socket's read loop is parked by backpressure right now (waiting for credit, or for room to grow
    /// a partial message): its liveness frames can then sit unread, so deadlines must not judge the client meanwhile.
    /// Set by the read loop itself, so a socket waiting in an ordinary read is never exempt.
    /// </summary>
    public bool HoldsBackReading
    {
        get => _holdsBackReading;
        set => _holdsBackReading = value;
    }

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
