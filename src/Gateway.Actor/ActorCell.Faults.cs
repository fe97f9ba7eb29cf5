namespace Gateway.Actor;

/// <summary>Failure: an actor that throws is suspended and its parent's strategy decides.</summary>
internal sealed partial class ActorCell
{
    internal ChildRestartStats RestartStats => Ext.RestartStats ??= new ChildRestartStats();

    private void HandleInvokeFailure(Exception cause)
    {
        if (_isFailed || _state != StateAlive)
        {
            // Already waiting for the parent's decision, or stopping anyway: nothing more to decide.
            return;
        }

        _isFailed = true;
        Ext.FailedMessage = _currentMessage;
        _suspendCount++;
        foreach (var child in ChildrenSnapshot())
        {
            child.SendSystemMessage(new Suspend());
        }

        if (_parent is null)
        {
            // The root has no supervisor: the system cannot go on without it.
            KernelLog.RootFailed(_system.Log, cause);
            HandleTerminate();
            return;
        }

        _parent.SendSystemMessage(new Failed(this, cause));
    }

    private void HandleFailed(Failed failed)
    {
        var child = failed.Child;
        if (_state != StateAlive || !IsChild(child) || (_extras?.ChildrenToDie?.Contains(child) ?? false))
        {
            // A stale report: the child is already being stopped.
            return;
        }

        var strategy = _extras?.Strategy;
        if (strategy is null)
        {
            strategy = _actor?.InvokeSupervisorStrategy() ?? _props.SupervisorStrategy ?? SupervisorStrategy.DefaultStrategy;
            if (_actor is not null)
            {
                Ext.Strategy = strategy;
            }
        }

        if (!strategy.HandleFailure(this, child, failed.Cause))
        {
            // Escalate: this actor fails with the child's cause, and its own parent decides.
            HandleInvokeFailure(failed.Cause);
        }
    }
}
