namespace Gateway.Actor;

/// <summary>Creation, stopping and restarting of the actor instance.</summary>
internal sealed partial class ActorCell
{
    public void Stop(IActorRef actor)
    {
        ArgumentNullException.ThrowIfNull(actor);
        if (actor is not ActorCell cell)
        {
            return;
        }

        if (ReferenceEquals(t_current, this) && ReferenceEquals(cell._parent, this))
        {
            (Ext.ChildrenToDie ??= []).Add(cell);
        }

        cell.SendSystemMessage(new Terminate());
    }

    private void HandleCreate()
    {
        try
        {
            CreateNewActorInstance();
            _actor!.InvokePreStart();
        }
        catch (Exception exception)
        {
            HandleInvokeFailure(new ActorInitializationException(this, $"Exception during creation of {Path}", exception));
        }
    }

    private void CreateNewActorInstance()
    {
        ActorBase instance;
        t_constructing = this;
        try
        {
            instance = _props.NewActor();
        }
        finally
        {
            t_constructing = null;
        }

        if (instance is null || !ReferenceEquals(instance.Cell, this))
        {
            throw new ActorInitializationException(this, "The Props factory must construct a new actor instance on every call.", null);
        }

        instance.AfterConstruction();
        _actor = instance;
    }

    private void HandleTerminate()
    {
        if (_state != StateAlive)
        {
            return;
        }

        Volatile.Write(ref _state, StateTerminating);
        CancelReceiveTimeout();
        UnwatchWatchedActors();

        var children = ChildrenSnapshot();
        if (children.Length == 0)
        {
            FinishTerminate();
            return;
        }

        var toDie = Ext.ChildrenToDie ??= [];
        foreach (var child in children)
        {
            toDie.Add(child);
            child.SendSystemMessage(new Terminate());
        }
    }

    private void FinishTerminate()
    {
        var actor = _actor;
        try
        {
            actor?.InvokePostStop();
        }
        catch (Exception exception)
        {
            KernelLog.PostStopFailed(_system.Log, exception, Path.ToString());
        }
        finally
        {
            _actor = null;
            _currentMessage = null;
            _currentSender = null;
            if (_extras is { } extras)
            {
                extras.Behaviors = null;
                extras.SynchronizationContext = null;
                extras.AsyncMessage = null;
                extras.AsyncSender = null;
                extras.FailedMessage = null;
            }

            Volatile.Write(ref _state, StateTerminated);

            // Close the system queue: later senders handle their messages as sent to the dead.
            var rest = Interlocked.Exchange(ref _systemQueue, MailboxClosed.Instance);
            while (rest is not null)
            {
                var next = rest.Next;
                rest.Next = null;
                HandleDeadSystemMessage(rest);
                rest = next;
            }

            DrainUserMessagesToDeadLetters();
            TellWatchersWeDied();

            if (_extras?.SubscribedToEventStream == true)
            {
                _system.EventStream.Unsubscribe(this);
            }

            if (_parent is not null)
            {
                _parent.SendSystemMessage(new ChildTerminated(this));
            }
            else
            {
                _system.OnRootTerminated();
            }
        }
    }

    private void HandleChildTerminated(ActorCell child)
    {
        RemoveChild(child);
        var extras = _extras;
        extras?.ChildrenToDie?.Remove(child);

        if (_state == StateTerminating)
        {
            if (ChildCount() == 0)
            {
                FinishTerminate();
            }
        }
        else if (extras?.PendingRecreate is { } cause && (extras.ChildrenToDie is null || extras.ChildrenToDie.Count == 0))
        {
            FinishRecreate(cause);
        }
    }

    private void HandleRecreate(Exception cause)
    {
        if (_state != StateAlive)
        {
            return;
        }

        var failedActor = _actor;
        if (failedActor is null)
        {
            // It failed while being created: there is no instance to tear down.
            FinishRecreate(cause);
            return;
        }

        try
        {
            failedActor.InvokePreRestart(cause, _extras?.FailedMessage);
        }
        catch (Exception exception)
        {
            KernelLog.PreRestartFailed(_system.Log, exception, Path.ToString());
        }

        _actor = null;
        var extras = Ext;
        extras.Behaviors = null;
        extras.Strategy = null;
        if (extras.ChildrenToDie is { Count: > 0 })
        {
            // Akka's order: the new instance starts only after the children PreRestart stopped are gone.
            extras.PendingRecreate = cause;
            return;
        }

        FinishRecreate(cause);
    }

    private void FinishRecreate(Exception cause)
    {
        var extras = Ext;
        extras.PendingRecreate = null;
        extras.FailedMessage = null;
        _isFailed = false;
        if (_suspendCount > 0)
        {
            _suspendCount--;
        }

        try
        {
            CreateNewActorInstance();
            _actor!.InvokePostRestart(cause);
        }
        catch (Exception exception)
        {
            HandleInvokeFailure(new ActorInitializationException(this, $"Exception during restart of {Path}", exception));
            return;
        }

        // Children that PreRestart left alive are restarted with the same cause (Akka's "survivors").
        foreach (var survivor in ChildrenSnapshot())
        {
            if (extras.ChildrenToDie is null || !extras.ChildrenToDie.Contains(survivor))
            {
                survivor.SendSystemMessage(new Recreate(cause));
            }
        }
    }

    private void HandleSuspend()
    {
        _suspendCount++;
        foreach (var child in ChildrenSnapshot())
        {
            child.SendSystemMessage(new Suspend());
        }
    }

    private void HandleResume(Exception? causedByFailure)
    {
        if (causedByFailure is not null)
        {
            if (!_isFailed)
            {
                return;
            }

            _isFailed = false;
            if (_extras is { } extras)
            {
                extras.FailedMessage = null;
            }
        }

        if (_suspendCount > 0)
        {
            _suspendCount--;
        }

        foreach (var child in ChildrenSnapshot())
        {
            child.SendSystemMessage(new Resume(null));
        }
    }
}
