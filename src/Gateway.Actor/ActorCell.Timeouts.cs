namespace Gateway.Actor;

/// <summary>Receive timeout and asynchronous handlers.</summary>
internal sealed partial class ActorCell
{
    public TimeSpan? ReceiveTimeout => _extras?.ReceiveTimeout;

    public void SetReceiveTimeout(TimeSpan? timeout)
    {
        Ext.ReceiveTimeout = timeout is { } value && value > TimeSpan.Zero ? value : null;
        RescheduleReceiveTimeout();
    }

    public void Become(Receive receive)
    {
        ArgumentNullException.ThrowIfNull(receive);
        var behaviors = Ext.Behaviors ??= [];
        if (behaviors.Count > 0)
        {
            behaviors[^1] = receive;
        }
        else
        {
            behaviors.Add(receive);
        }
    }

    public void BecomeStacked(Receive receive)
    {
        ArgumentNullException.ThrowIfNull(receive);
        (Ext.Behaviors ??= []).Add(receive);
    }

    public void UnbecomeStacked()
    {
        if (_extras?.Behaviors is { Count: > 0 } behaviors)
        {
            behaviors.RemoveAt(behaviors.Count - 1);
        }
    }

    /// <summary>
    /// Runs an async handler. Until its task completes, user messages wait in the mailbox; the
    /// continuations after each await are posted back as system messages and run on the actor's turn.
    /// </summary>
    internal void RunTask<T>(Func<T, Task> handler, T argument)
    {
        var extras = Ext;
        var context = extras.SynchronizationContext ??= new ActorSynchronizationContext(this);
        var previous = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(context);
        Task task;
        try
        {
            task = handler(argument);
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(previous);
        }

        if (task.IsCompleted)
        {
            task.GetAwaiter().GetResult();
            return;
        }

        _asyncPending = true;
        extras.AsyncMessage = _currentMessage;
        extras.AsyncSender = _currentSender;
        task.ContinueWith(
            static (completed, state) => ((ActorCell)state!).SendSystemMessage(new AsyncHandlerCompleted(completed)),
            this,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    private void RunContinuationOnTurn(RunContinuation continuation)
    {
        var extras = Ext;
        _currentMessage = extras.AsyncMessage;
        _currentSender = extras.AsyncSender;
        var previous = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(extras.SynchronizationContext);
        try
        {
            continuation.Callback(continuation.State);
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(previous);
            _currentMessage = null;
            _currentSender = null;
        }
    }

    private void HandleAsyncHandlerCompleted(AsyncHandlerCompleted completed)
    {
        _asyncPending = false;
        var extras = Ext;
        var message = extras.AsyncMessage;
        extras.AsyncMessage = null;
        extras.AsyncSender = null;
        var task = completed.Task;
        if (task.IsFaulted || task.IsCanceled)
        {
            _currentMessage = message;
            var cause = task.Exception is { InnerExceptions.Count: 1 } aggregate
                ? aggregate.InnerExceptions[0]
                : (Exception?)task.Exception ?? new TaskCanceledException(task);
            HandleInvokeFailure(cause);
            _currentMessage = null;
        }
        else if (extras.ReceiveTimeout is not null)
        {
            RescheduleReceiveTimeout();
        }
    }

    private void RescheduleReceiveTimeout()
    {
        var extras = Ext;
        extras.ReceiveTimeoutTask?.Cancel();
        extras.ReceiveTimeoutGeneration++;
        extras.ReceiveTimeoutTask = extras.ReceiveTimeout is { } timeout && _state == StateAlive
            ? _system.Scheduler.ScheduleTellOnceCancelable(timeout, this, new ReceiveTimeoutTick(extras.ReceiveTimeoutGeneration), this)
            : null;
    }

    private void CancelReceiveTimeout()
    {
        if (_extras is { } extras)
        {
            extras.ReceiveTimeoutTask?.Cancel();
            extras.ReceiveTimeoutTask = null;
            extras.ReceiveTimeoutGeneration++;
        }
    }

    private void ReceivedReceiveTimeoutTick(ReceiveTimeoutTick tick)
    {
        // A tick from an earlier arming (a message arrived since) is stale.
        if (_extras is not { } extras || extras.ReceiveTimeout is null || tick.Generation != extras.ReceiveTimeoutGeneration)
        {
            return;
        }

        ReceiveMessage(Actor.ReceiveTimeout.Instance);
        if (tick.Generation == extras.ReceiveTimeoutGeneration)
        {
            RescheduleReceiveTimeout();
        }
    }

    /// <summary>The scheduled self-message behind <see cref="Actor.ReceiveTimeout"/>.</summary>
    private sealed class ReceiveTimeoutTick(int generation) : IAutoReceivedMessage, INotInfluenceReceiveTimeout, IDeadLetterSuppression
    {
        public int Generation { get; } = generation;
    }
}

/// <summary>Posts an async handler's continuations back onto its actor's turn.</summary>
internal sealed class ActorSynchronizationContext(ActorCell cell) : SynchronizationContext
{
    public override void Post(SendOrPostCallback d, object? state) => cell.SendSystemMessage(new RunContinuation(d, state));

    public override void Send(SendOrPostCallback d, object? state) =>
        throw new NotSupportedException("Synchronous Send is not supported on an actor's synchronization context.");

    public override SynchronizationContext CreateCopy() => this;
}
