namespace Gateway.Actor;

/// <summary>Death watch: who this actor watches, who watches it, and Terminated delivery.</summary>
internal sealed partial class ActorCell
{
    public IActorRef Watch(IActorRef subject) => WatchCore(subject, null);

    public IActorRef WatchWith(IActorRef subject, object message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return WatchCore(subject, message);
    }

    public IActorRef Unwatch(IActorRef subject)
    {
        ArgumentNullException.ThrowIfNull(subject);
        if (subject is not IInternalActorRef target || ReferenceEquals(subject, this))
        {
            return subject;
        }

        var extras = _extras;
        if (extras?.Watching is { } watching && watching.Remove(subject))
        {
            target.SendSystemMessage(new Unwatch(target, this));
        }

        extras?.TerminatedQueued?.Remove(subject);
        return subject;
    }

    private IActorRef WatchCore(IActorRef subject, object? message)
    {
        ArgumentNullException.ThrowIfNull(subject);
        if (subject is not IInternalActorRef target)
        {
            throw new ArgumentException($"Cannot watch {subject}: it is not a reference created by this kernel.", nameof(subject));
        }

        if (ReferenceEquals(subject, this))
        {
            return subject;
        }

        var watching = Ext.Watching ??= [];
        if (watching.TryGetValue(subject, out var existing))
        {
            if (!Equals(existing, message))
            {
                throw new InvalidOperationException(
                    $"{subject} is already watched with message [{existing ?? "Terminated"}]; unwatch it before watching it with [{message ?? "Terminated"}].");
            }

            return subject;
        }

        watching.Add(subject, message);
        target.SendSystemMessage(new Watch(target, this));
        return subject;
    }

    private void HandleWatch(Watch watch)
    {
        var watcher = watch.Watcher;
        if (!ReferenceEquals(watch.Watchee, this) || ReferenceEquals(watcher, this) || ReferenceEquals(watcher, _firstWatcher))
        {
            return;
        }

        if (_firstWatcher is null && _extras?.WatchedBy is not { Count: > 0 })
        {
            _firstWatcher = watcher;
        }
        else
        {
            (Ext.WatchedBy ??= []).Add(watcher);
        }
    }

    private void HandleUnwatch(Unwatch unwatch)
    {
        if (!ReferenceEquals(unwatch.Watchee, this))
        {
            return;
        }

        if (ReferenceEquals(unwatch.Watcher, _firstWatcher))
        {
            _firstWatcher = null;
        }
        else
        {
            _extras?.WatchedBy?.Remove(unwatch.Watcher);
        }
    }

    private void HandleDeathWatchNotification(DeathWatchNotification notification)
    {
        var extras = _extras;
        if (extras?.Watching is not { } watching || !watching.Remove(notification.Actor, out var custom))
        {
            return;
        }

        if (_state != StateAlive)
        {
            return;
        }

        // Queued as a user message, so it arrives after everything the dead actor sent before dying.
        // It travels wrapped: a Terminated that another actor forwards is an ordinary message.
        (extras.TerminatedQueued ??= [])[notification.Actor] = custom;
        var terminated = new Terminated(notification.Actor, notification.ExistenceConfirmed, AddressTerminated: false);
        Tell(new DeathWatchDelivery(terminated), notification.Actor);
    }

    private void ReceivedTerminated(Terminated terminated)
    {
        // Dropped when the watch was cancelled after the notification was queued.
        if (_extras?.TerminatedQueued is not { } queued || !queued.Remove(terminated.ActorRef, out var custom))
        {
            return;
        }

        ReceiveMessage(custom ?? terminated);
    }

    /// <summary>The Terminated this cell queued for itself from a death-watch notification.</summary>
    private sealed class DeathWatchDelivery(Terminated terminated) : IAutoReceivedMessage, IDeadLetterSuppression
    {
        public Terminated Terminated { get; } = terminated;
    }

    private void TellWatchersWeDied()
    {
        if (_firstWatcher is { } first)
        {
            first.SendSystemMessage(new DeathWatchNotification(this, existenceConfirmed: true));
            _firstWatcher = null;
        }

        if (_extras?.WatchedBy is not { } watchers)
        {
            return;
        }

        foreach (var watcher in watchers)
        {
            watcher.SendSystemMessage(new DeathWatchNotification(this, existenceConfirmed: true));
        }

        watchers.Clear();
    }

    private void UnwatchWatchedActors()
    {
        var extras = _extras;
        if (extras?.Watching is { Count: > 0 } watching)
        {
            foreach (var subject in watching.Keys)
            {
                ((IInternalActorRef)subject).SendSystemMessage(new Unwatch((IInternalActorRef)subject, this));
            }

            watching.Clear();
        }

        extras?.TerminatedQueued?.Clear();
    }
}
