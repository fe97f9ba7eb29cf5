namespace Gateway.Actor;

/// <summary>
/// The base of every actor. An actor processes one message at a time on its own turn, so its fields
/// need no locks. It can only be constructed through <see cref="Props"/>; <c>new</c> elsewhere throws
/// <see cref="ActorInitializationException"/>.
/// </summary>
public abstract class ActorBase
{
    private readonly ActorCell _cell;

    /// <summary>Binds the actor to the cell that is constructing it.</summary>
    /// <exception cref="ActorInitializationException">Not constructed by the kernel from <see cref="Props"/>.</exception>
    protected ActorBase()
    {
        _cell = ActorCell.TakeConstructingCell()
            ?? throw new ActorInitializationException(
                "Do not create actors with 'new'; create them with ActorOf(Props.Create(() => new MyActor(...))).");
    }

    /// <summary>The current actor's context. Only valid on the actor's turn (not from other threads or after a <c>ConfigureAwait(false)</c>).</summary>
    /// <exception cref="NotSupportedException">Called outside an actor's turn.</exception>
    protected static IActorContext Context => ActorCell.Current
        ?? throw new NotSupportedException(
            "There is no active actor context: Context is only available while the actor processes a message.");

    /// <summary>This actor's reference. Unlike <see cref="Context"/>, safe to read from any thread.</summary>
    protected IActorRef Self => _cell;

    /// <summary>The sender of the message being processed; dead letters when it had none.</summary>
    protected IActorRef Sender => Context.Sender;

    internal ActorCell Cell => _cell;

    /// <summary>Handles a message; returns false when it was not handled, which leads to <see cref="Unhandled"/>.</summary>
    protected abstract bool Receive(object message);

    /// <summary>Called before the first message, on the actor's turn. Default: nothing. Called again after a restart by the default <see cref="PostRestart"/>.</summary>
    protected virtual void PreStart()
    {
    }

    /// <summary>Called once the actor and all its children have stopped; no more messages follow. Default: nothing.</summary>
    protected virtual void PostStop()
    {
    }

    /// <summary>
    /// Called on the failed instance before a restart. Default (Akka's): unwatches and stops every child,
    /// then calls <see cref="PostStop"/>. The restart completes only after those children have stopped.
    /// </summary>
    /// <param name="reason">The failure.</param>
    /// <param name="message">The message being processed when it failed, if any.</param>
    protected virtual void PreRestart(Exception reason, object? message)
    {
        foreach (var child in Context.Children)
        {
            Context.Unwatch(child);
            Context.Stop(child);
        }

        PostStop();
    }

    /// <summary>Called on the fresh instance after a restart. Default: calls <see cref="PreStart"/>.</summary>
    protected virtual void PostRestart(Exception reason) => PreStart();

    /// <summary>
    /// The strategy this actor applies to its failing children. Default: the <see cref="Props.SupervisorStrategy"/>
    /// if set, else <see cref="Actor.SupervisorStrategy.DefaultStrategy"/> (restart on any exception,
    /// stop on <see cref="ActorInitializationException"/>, <see cref="ActorKilledException"/> and
    /// <see cref="DeathPactException"/>). Asked once per incarnation.
    /// </summary>
    protected virtual SupervisorStrategy SupervisorStrategy() =>
        _cell.Props.SupervisorStrategy ?? Actor.SupervisorStrategy.DefaultStrategy;

    /// <summary>
    /// Called for a message no behaviour handled. Default: an unhandled <see cref="Terminated"/> throws
    /// <see cref="DeathPactException"/>; anything else is published as <see cref="UnhandledMessage"/>.
    /// </summary>
    protected virtual void Unhandled(object message)
    {
        if (message is Terminated terminated)
        {
            throw new DeathPactException(terminated.ActorRef);
        }

        _cell.PublishUnhandled(message);
    }

    /// <summary>Shorthand for <see cref="IActorContext.SetReceiveTimeout"/>.</summary>
    protected void SetReceiveTimeout(TimeSpan? timeout) => Context.SetReceiveTimeout(timeout);

    /// <summary>Shorthand for <see cref="IActorContext.Become"/>.</summary>
    protected void Become(Receive receive) => Context.Become(receive);

    /// <summary>Shorthand for <see cref="IActorContext.BecomeStacked"/>.</summary>
    protected void BecomeStacked(Receive receive) => Context.BecomeStacked(receive);

    /// <summary>Shorthand for <see cref="IActorContext.UnbecomeStacked"/>.</summary>
    protected void UnbecomeStacked() => Context.UnbecomeStacked();

    /// <summary>Akka's older name for <see cref="UnbecomeStacked"/>: returns to the previous behaviour.</summary>
    protected void Unbecome() => Context.UnbecomeStacked();

    /// <summary>Called once by the kernel right after construction.</summary>
    internal virtual void AfterConstruction()
    {
    }

    internal bool InvokeReceive(object message) => Receive(message);

    internal void InvokeUnhandled(object message) => Unhandled(message);

    internal void InvokePreStart() => PreStart();

    internal void InvokePostStop() => PostStop();

    internal void InvokePreRestart(Exception reason, object? message) => PreRestart(reason, message);

    internal void InvokePostRestart(Exception reason) => PostRestart(reason);

    internal SupervisorStrategy InvokeSupervisorStrategy() => SupervisorStrategy();
}

/// <summary>An actor that handles every message in one method, <see cref="OnReceive"/>.</summary>
public abstract class UntypedActor : ActorBase
{
    /// <summary>Handles a message; call <see cref="ActorBase.Unhandled"/> for one it does not understand.</summary>
    protected abstract void OnReceive(object message);

    /// <inheritdoc/>
    protected sealed override bool Receive(object message)
    {
        OnReceive(message);
        return true;
    }
}
