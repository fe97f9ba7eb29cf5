namespace Gateway.Actor;

/// <summary>Anything a message can be told to: an actor reference, or an ask's temporary reply target.</summary>
public interface ICanTell
{
    /// <summary>
    /// Enqueues <paramref name="message"/> for the receiver and returns at once. The receiver sees
    /// <paramref name="sender"/> as <c>Sender</c>; <see langword="null"/> (<see cref="ActorRefs.NoSender"/>)
    /// makes replies go to dead letters. Never blocks and never throws for a dead receiver: the message
    /// becomes a <see cref="DeadLetter"/> instead.
    /// </summary>
    void Tell(object message, IActorRef? sender);
}

/// <summary>
/// An immutable, shareable handle to an actor. Two references are equal only when they denote the
/// same incarnation of an actor: a new actor created under the same path is a different reference.
/// </summary>
public interface IActorRef : ICanTell, IEquatable<IActorRef>, IComparable<IActorRef>
{
    /// <summary>The actor's location in its system's hierarchy, such as <c>akka://gateway/user/registry</c>.</summary>
    ActorPath Path { get; }
}

/// <summary>Well-known references.</summary>
public static class ActorRefs
{
    /// <summary>
    /// The "no sender" value for <see cref="ICanTell.Tell"/>: <see langword="null"/>, as in Akka.
    /// Inside an actor, <c>Sender</c> then reads as the system's dead letters.
    /// </summary>
    public static readonly IActorRef? NoSender;

    /// <summary>A reference to no actor: messages told to it are dropped, and watching it yields <see cref="Terminated"/> at once.</summary>
    public static readonly IActorRef Nobody = Gateway.Actor.Nobody.Instance;
}

/// <summary>Telling without naming the sender, and forwarding.</summary>
public static class ActorRefImplicitSenderExtensions
{
    /// <summary>
    /// Tells <paramref name="message"/> with the implicit sender: the current actor's <c>Self</c>
    /// when called from inside an actor, otherwise the ambient test sender set by the test kit,
    /// otherwise <see cref="ActorRefs.NoSender"/>.
    /// </summary>
    public static void Tell(this ICanTell receiver, object message)
    {
        ArgumentNullException.ThrowIfNull(receiver);
        receiver.Tell(message, ActorCell.GetCurrentSelfOrNoSender());
    }

    /// <summary>Tells <paramref name="message"/> keeping the current message's original sender (from inside an actor).</summary>
    public static void Forward(this ICanTell receiver, object message)
    {
        ArgumentNullException.ThrowIfNull(receiver);
        receiver.Tell(message, ActorCell.GetCurrentSenderOrNoSender());
    }
}

/// <summary>Kernel-side view of a reference: what system messages need.</summary>
internal interface IInternalActorRef : IActorRef
{
    /// <summary>Delivers a system message (watch, stop, failure...). Dead targets answer a watch at once.</summary>
    void SendSystemMessage(SystemMessage message);

    /// <summary>True once the actor has fully stopped.</summary>
    bool IsTerminated { get; }
}

/// <summary>Base for references that are not actors (dead letters, nobody, ask promises).</summary>
internal abstract class MinimalActorRef : IInternalActorRef
{
    public abstract ActorPath Path { get; }

    public virtual bool IsTerminated => false;

    public abstract void Tell(object message, IActorRef? sender);

    public virtual void SendSystemMessage(SystemMessage message)
    {
        // Nothing lives here to be watched: a watcher learns at once that there is nothing to watch.
        if (message is Watch watch && ReferenceEquals(watch.Watchee, this))
        {
            watch.Watcher.SendSystemMessage(new DeathWatchNotification(this, existenceConfirmed: false));
        }
    }

    public bool Equals(IActorRef? other) => ReferenceEquals(this, other);

    public override bool Equals(object? obj) => ReferenceEquals(this, obj);

    public override int GetHashCode() => Path.GetHashCode();

    public int CompareTo(IActorRef? other) => other is null ? 1 : Path.CompareTo(other.Path);

    public override string ToString() => $"[{Path}]";
}

/// <summary>The single "nobody" reference.</summary>
internal sealed class Nobody : MinimalActorRef
{
    public static readonly Nobody Instance = new();

    private static readonly ActorPath NobodyPath = ActorPath.CreateRoot("all-systems") / "Nobody";

    private Nobody()
    {
    }

    public override ActorPath Path => NobodyPath;

    public override bool IsTerminated => true;

    public override void Tell(object message, IActorRef? sender)
    {
        // Dropped by design: Nobody is the absence of an actor.
    }
}
