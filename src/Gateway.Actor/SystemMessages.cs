namespace Gateway.Actor;

/// <summary>
/// Kernel-internal messages about an actor's life (creation, failure, supervision, death watch).
/// They travel in their own queue, are processed before any user message, and are linked
/// intrusively (each instance is sent once).
/// </summary>
internal abstract class SystemMessage
{
    public SystemMessage? Next;
}

/// <summary>Constructs the actor and runs PreStart: always the first system message of a cell.</summary>
internal sealed class Create : SystemMessage;

/// <summary>Parent's Restart directive: PreRestart on the failed instance, then a fresh one.</summary>
internal sealed class Recreate(Exception cause) : SystemMessage
{
    public Exception Cause { get; } = cause;
}

/// <summary>Suspends user-message processing (counted); sent to the children of a failing actor.</summary>
internal sealed class Suspend : SystemMessage;

/// <summary>Undoes one <see cref="Suspend"/>; with a cause, it is the parent's Resume directive.</summary>
internal sealed class Resume(Exception? causedByFailure) : SystemMessage
{
    public Exception? CausedByFailure { get; } = causedByFailure;
}

/// <summary>Stops the actor.</summary>
internal sealed class Terminate : SystemMessage;

/// <summary>A child failed; its parent's strategy decides.</summary>
internal sealed class Failed(ActorCell child, Exception cause) : SystemMessage
{
    public ActorCell Child { get; } = child;

    public Exception Cause { get; } = cause;
}

/// <summary>A child finished stopping: sent to its parent after it notified its watchers.</summary>
internal sealed class ChildTerminated(ActorCell child) : SystemMessage
{
    public ActorCell Child { get; } = child;
}

/// <summary><paramref name="watcher"/> wants to hear when <paramref name="watchee"/> stops; sent to the watchee.</summary>
internal sealed class Watch(IInternalActorRef watchee, IInternalActorRef watcher) : SystemMessage
{
    public IInternalActorRef Watchee { get; } = watchee;

    public IInternalActorRef Watcher { get; } = watcher;
}

/// <summary>Cancels a <see cref="Watch"/>; sent to the watchee.</summary>
internal sealed class Unwatch(IInternalActorRef watchee, IInternalActorRef watcher) : SystemMessage
{
    public IInternalActorRef Watchee { get; } = watchee;

    public IInternalActorRef Watcher { get; } = watcher;
}

/// <summary>A watched actor stopped (or never existed); sent to each watcher.</summary>
internal sealed class DeathWatchNotification(IActorRef actor, bool existenceConfirmed) : SystemMessage
{
    public IActorRef Actor { get; } = actor;

    public bool ExistenceConfirmed { get; } = existenceConfirmed;
}

/// <summary>Runs an async handler's continuation on the actor's turn (posted by its synchronization context).</summary>
internal sealed class RunContinuation(SendOrPostCallback callback, object? state) : SystemMessage
{
    public SendOrPostCallback Callback { get; } = callback;

    public object? State { get; } = state;
}

/// <summary>An async handler's task completed: user messages flow again, or the fault is handled as a failure.</summary>
internal sealed class AsyncHandlerCompleted(Task task) : SystemMessage
{
    public Task Task { get; } = task;
}

/// <summary>Never processed: replaces the queue head of a stopped cell so later senders see it is closed.</summary>
internal sealed class MailboxClosed : SystemMessage
{
    public static readonly MailboxClosed Instance = new();
}
