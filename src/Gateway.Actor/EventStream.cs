namespace Gateway.Actor;

/// <summary>
/// A publish-subscribe bus for system-wide events: actors subscribe to a type (a class or an
/// interface) and receive every published event assignable to it. Stopped actors are unsubscribed.
/// </summary>
public sealed class EventStream
{
    private readonly Lock _gate = new();
    private (IActorRef Subscriber, Type Channel)[] _subscriptions = [];

    /// <summary>Subscribes <paramref name="subscriber"/> to events assignable to <paramref name="channel"/>; false if it already was.</summary>
    public bool Subscribe(IActorRef subscriber, Type channel)
    {
        ArgumentNullException.ThrowIfNull(subscriber);
        ArgumentNullException.ThrowIfNull(channel);
        lock (_gate)
        {
            if (Array.Exists(_subscriptions, s => s.Subscriber.Equals(subscriber) && s.Channel == channel))
            {
                return false;
            }

            _subscriptions = [.. _subscriptions, (subscriber, channel)];
        }

        if (subscriber is ActorCell cell)
        {
            cell.MarkSubscribedToEventStream();
        }

        return true;
    }

    /// <summary>Removes one subscription; false if there was none.</summary>
    public bool Unsubscribe(IActorRef subscriber, Type channel)
    {
        lock (_gate)
        {
            var remaining = Array.FindAll(_subscriptions, s => !(s.Subscriber.Equals(subscriber) && s.Channel == channel));
            var removed = remaining.Length != _subscriptions.Length;
            _subscriptions = remaining;
            return removed;
        }
    }

    /// <summary>Removes every subscription of <paramref name="subscriber"/>; false if there was none.</summary>
    public bool Unsubscribe(IActorRef subscriber)
    {
        lock (_gate)
        {
            var remaining = Array.FindAll(_subscriptions, s => !s.Subscriber.Equals(subscriber));
            var removed = remaining.Length != _subscriptions.Length;
            _subscriptions = remaining;
            return removed;
        }
    }

    /// <summary>Tells <paramref name="event"/> (with no sender) to every subscriber of a matching type.</summary>
    public void Publish(object @event)
    {
        ArgumentNullException.ThrowIfNull(@event);
        var type = @event.GetType();
        foreach (var (subscriber, channel) in Volatile.Read(ref _subscriptions))
        {
            if (channel.IsAssignableFrom(type))
            {
                subscriber.Tell(@event, ActorRefs.NoSender);
            }
        }
    }
}

/// <summary>The system's dead-letter office: what is told to it is published as <see cref="DeadLetter"/>.</summary>
internal sealed class DeadLetterActorRef(ActorSystem system) : MinimalActorRef
{
    private readonly ActorPath _path = ActorPath.CreateRoot(system.Name) / "deadLetters";

    public override ActorPath Path => _path;

    public override void Tell(object message, IActorRef? sender)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message is DeadLetter deadLetter)
        {
            system.PublishDeadLetter(deadLetter);
        }
        else
        {
            system.SendDeadLetter(message, sender, this);
        }
    }
}
