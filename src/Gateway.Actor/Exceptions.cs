namespace Gateway.Actor;

/// <summary>Base of the kernel's own exceptions.</summary>
public class AkkaException : Exception
{
    /// <summary>Creates the exception.</summary>
    public AkkaException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public AkkaException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public AkkaException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// An actor could not be created: its constructor or <c>PreStart</c> threw, or it was constructed with
/// <c>new</c> outside <see cref="Props"/>. The default supervisor decision is Stop.
/// </summary>
public class ActorInitializationException : AkkaException
{
    /// <summary>Creates the exception.</summary>
    public ActorInitializationException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public ActorInitializationException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public ActorInitializationException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for <paramref name="actor"/>.</summary>
    public ActorInitializationException(IActorRef? actor, string message, Exception? innerException)
        : base(message, innerException)
    {
        Actor = actor;
    }

    /// <summary>The actor that failed to initialize, when known.</summary>
    public IActorRef? Actor { get; }
}

/// <summary>An <c>Ask</c> got no answer within its timeout.</summary>
public class AskTimeoutException : AkkaException
{
    /// <summary>Creates the exception.</summary>
    public AskTimeoutException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public AskTimeoutException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public AskTimeoutException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>Thrown by an actor that receives <see cref="Terminated"/> for a watched actor and does not handle it. The default supervisor decision is Stop.</summary>
public class DeathPactException : AkkaException
{
    /// <summary>Creates the exception.</summary>
    public DeathPactException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public DeathPactException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public DeathPactException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for the death of <paramref name="deadActor"/>.</summary>
    public DeathPactException(IActorRef deadActor)
        : base($"Monitored actor [{deadActor}] terminated")
    {
        DeadActor = deadActor;
    }

    /// <summary>The watched actor whose death was not handled.</summary>
    public IActorRef? DeadActor { get; }
}

/// <summary>Thrown by an actor processing <see cref="Kill"/>. The default supervisor decision is Stop.</summary>
public class ActorKilledException : AkkaException
{
    /// <summary>Creates the exception.</summary>
    public ActorKilledException()
        : base("Kill")
    {
    }

    /// <summary>Creates the exception.</summary>
    public ActorKilledException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public ActorKilledException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>An actor name is malformed or already taken by a live sibling.</summary>
public class InvalidActorNameException : AkkaException
{
    /// <summary>Creates the exception.</summary>
    public InvalidActorNameException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public InvalidActorNameException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public InvalidActorNameException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
