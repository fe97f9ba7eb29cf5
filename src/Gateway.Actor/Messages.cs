namespace Gateway.Actor;

/// <summary>Marks messages the actor cell handles itself before (or instead of) the actor's behaviour.</summary>
public interface IAutoReceivedMessage;

/// <summary>Messages that neither reset nor count as activity for <see cref="IActorContext.SetReceiveTimeout"/>.</summary>
public interface INotInfluenceReceiveTimeout;

/// <summary>
/// Stops the actor when it is processed, as an ordinary message: everything queued before it is
/// processed first, everything after it goes to dead letters.
/// </summary>
public sealed class PoisonPill : IAutoReceivedMessage
{
    private PoisonPill()
    {
    }

    /// <summary>The single instance.</summary>
    public static PoisonPill Instance { get; } = new();

    /// <inheritdoc/>
    public override string ToString() => "<PoisonPill>";
}

/// <summary>Makes the actor throw <see cref="ActorKilledException"/> when processed, so its supervisor decides (stop, by default).</summary>
public sealed class Kill : IAutoReceivedMessage
{
    private Kill()
    {
    }

    /// <summary>The single instance.</summary>
    public static Kill Instance { get; } = new();

    /// <inheritdoc/>
    public override string ToString() => "<Kill>";
}

/// <summary>
/// Delivered once to each watcher when a watched actor stops (see <see cref="IActorContext.Watch"/>).
/// An actor that does not handle it fails with <see cref="DeathPactException"/>.
/// </summary>
/// <param name="ActorRef">The actor that stopped.</param>
/// <param name="ExistenceConfirmed">False when the actor was already gone when the watch began.</param>
/// <param name="AddressTerminated">Always false: there are no remote addresses in this kernel.</param>
public sealed record Terminated(IActorRef ActorRef, bool ExistenceConfirmed, bool AddressTerminated) : IDeadLetterSuppression;

/// <summary>Sent to an actor that received nothing for its receive timeout (see <see cref="IActorContext.SetReceiveTimeout"/>); repeats while it stays idle.</summary>
public sealed class ReceiveTimeout : INotInfluenceReceiveTimeout
{
    private ReceiveTimeout()
    {
    }

    /// <summary>The single instance.</summary>
    public static ReceiveTimeout Instance { get; } = new();

    /// <inheritdoc/>
    public override string ToString() => "<ReceiveTimeout>";
}

/// <summary>Asks any actor for its reference; it answers <see cref="ActorIdentity"/> with the same id.</summary>
/// <param name="MessageId">Echoed in the answer.</param>
public sealed record Identify(object? MessageId) : IAutoReceivedMessage, INotInfluenceReceiveTimeout;

/// <summary>The answer to <see cref="Identify"/>.</summary>
/// <param name="MessageId">The id from the request.</param>
/// <param name="Subject">The answering actor.</param>
public sealed record ActorIdentity(object? MessageId, IActorRef? Subject);

/// <summary>Messages that are not logged as dead letters when undeliverable (they are still published).</summary>
public interface IDeadLetterSuppression;

/// <summary>A message that could not be delivered: its recipient had stopped or never existed. Published on the <see cref="EventStream"/>.</summary>
/// <param name="Message">The undelivered message.</param>
/// <param name="Sender">Its sender.</param>
/// <param name="Recipient">Its intended recipient.</param>
public sealed record DeadLetter(object Message, IActorRef Sender, IActorRef Recipient);

/// <summary>A message an actor did not handle. Published on the <see cref="EventStream"/>.</summary>
/// <param name="Message">The unhandled message.</param>
/// <param name="Sender">Its sender.</param>
/// <param name="Recipient">The actor that did not handle it.</param>
public sealed record UnhandledMessage(object Message, IActorRef Sender, IActorRef Recipient);

/// <summary>Replies that carry an outcome: used by <c>Ask</c> and <see cref="PipeToSupport"/>.</summary>
public static class Status
{
    /// <summary>A successful outcome.</summary>
    /// <param name="Result">The result.</param>
    public sealed record Success(object? Result);

    /// <summary>A failed outcome: as a reply to an ask, it faults the asking task with <paramref name="Cause"/>.</summary>
    /// <param name="Cause">What went wrong.</param>
    public sealed record Failure(Exception Cause);
}
