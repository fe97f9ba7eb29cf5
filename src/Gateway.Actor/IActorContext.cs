namespace Gateway.Actor;

/// <summary>A behaviour: handles <paramref name="message"/> and says whether it did.</summary>
public delegate bool Receive(object message);

/// <summary>Creates actors: implemented by <see cref="ActorSystem"/> (top level) and <see cref="IActorContext"/> (children).</summary>
public interface IActorRefFactory
{
    /// <summary>
    /// Creates and starts an actor from <paramref name="props"/>. Returns at once: the actor is
    /// constructed on its own turn, and messages told to it meanwhile are queued. A <paramref name="name"/>
    /// must be unique among live siblings; without one a unique name starting with <c>$</c> is generated.
    /// </summary>
    /// <exception cref="InvalidActorNameException">The name is malformed or taken.</exception>
    IActorRef ActorOf(Props props, string? name = null);
}

/// <summary>
/// The actor's view of itself and the system, valid only while it processes a message (on the
/// actor's turn). Reached through <c>Context</c> inside an actor.
/// </summary>
public interface IActorContext : IActorRefFactory
{
    /// <summary>This actor's reference.</summary>
    IActorRef Self { get; }

    /// <summary>The sender of the message being processed; the system's dead letters when it had none.</summary>
    IActorRef Sender { get; }

    /// <summary>This actor's supervisor.</summary>
    IActorRef Parent { get; }

    /// <summary>The actor's live children (a snapshot).</summary>
    IEnumerable<IActorRef> Children { get; }

    /// <summary>The system this actor belongs to.</summary>
    ActorSystem System { get; }

    /// <summary>The props this actor was created from.</summary>
    Props Props { get; }

    /// <summary>The current receive timeout, or <see langword="null"/> when none is set.</summary>
    TimeSpan? ReceiveTimeout { get; }

    /// <summary>The live child named <paramref name="name"/>, or <see cref="ActorRefs.Nobody"/>.</summary>
    IActorRef Child(string name);

    /// <summary>
    /// Stops <paramref name="child"/> (this actor itself, or one of its children) asynchronously:
    /// it finishes its current message, stops its own children, runs <c>PostStop</c>, and its
    /// watchers get <see cref="Terminated"/>. Stopping twice is harmless.
    /// </summary>
    void Stop(IActorRef child);

    /// <summary>
    /// Watches <paramref name="subject"/>: when it stops, this actor receives one <see cref="Terminated"/>
    /// however many times it is watched or stopped; if it is already dead, at once. Returns the subject.
    /// </summary>
    IActorRef Watch(IActorRef subject);

    /// <summary>As <see cref="Watch"/>, but delivers <paramref name="message"/> instead of <see cref="Terminated"/>.</summary>
    /// <exception cref="InvalidOperationException">The subject is already watched with a different message.</exception>
    IActorRef WatchWith(IActorRef subject, object message);

    /// <summary>Stops watching <paramref name="subject"/>; a <see cref="Terminated"/> already queued for it is discarded.</summary>
    IActorRef Unwatch(IActorRef subject);

    /// <summary>
    /// After <paramref name="timeout"/> without a message (other than <see cref="INotInfluenceReceiveTimeout"/> ones),
    /// the actor receives <see cref="Actor.ReceiveTimeout"/>, and again after each further idle period.
    /// <see langword="null"/> or a non-positive value turns it off.
    /// </summary>
    void SetReceiveTimeout(TimeSpan? timeout);

    /// <summary>Replaces the current behaviour with <paramref name="receive"/>.</summary>
    void Become(Receive receive);

    /// <summary>Pushes <paramref name="receive"/> as the current behaviour; <see cref="UnbecomeStacked"/> returns to the previous one.</summary>
    void BecomeStacked(Receive receive);

    /// <summary>Returns to the behaviour before the last <see cref="BecomeStacked"/>; the original behaviour is never popped.</summary>
    void UnbecomeStacked();
}
