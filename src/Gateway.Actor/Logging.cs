using Microsoft.Extensions.Logging;

namespace Gateway.Actor;

/// <summary>Logging from actors, through Microsoft.Extensions.Logging.</summary>
public static class ActorLoggingExtensions
{
    /// <summary>A logger whose category is the actor's type, from the system's <see cref="ActorSystem.LoggerFactory"/>.</summary>
    public static ILogger GetLogger(this IActorContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.System.LoggerFactory.CreateLogger(context.Props.Type);
    }
}

internal static partial class KernelLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Error, Message = "Actor {ActorPath} failed ({Directive}): {Reason}")]
    public static partial void ChildFailed(ILogger logger, Exception exception, string actorPath, string directive, string reason);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "Actor {ActorPath} failed and was resumed: {Reason}")]
    public static partial void ChildResumed(ILogger logger, Exception exception, string actorPath, string reason);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Message [{MessageType}] from {Sender} to {Recipient} was not delivered. [{Count}] dead letters encountered.")]
    public static partial void DeadLetterLogged(ILogger logger, string messageType, string sender, string recipient, int count);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "{Limit} dead letters logged; further dead letters are published but not logged.")]
    public static partial void DeadLettersSuppressed(ILogger logger, int limit);

    [LoggerMessage(EventId = 5, Level = LogLevel.Error, Message = "PostStop of {ActorPath} threw")]
    public static partial void PostStopFailed(ILogger logger, Exception exception, string actorPath);

    [LoggerMessage(EventId = 6, Level = LogLevel.Error, Message = "PreRestart of {ActorPath} threw")]
    public static partial void PreRestartFailed(ILogger logger, Exception exception, string actorPath);

    [LoggerMessage(EventId = 7, Level = LogLevel.Debug, Message = "Unhandled message [{MessageType}] from {Sender} to {Recipient}")]
    public static partial void Unhandled(ILogger logger, string messageType, string sender, string recipient);

    [LoggerMessage(EventId = 8, Level = LogLevel.Error, Message = "A scheduled task threw")]
    public static partial void ScheduledTaskFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 9, Level = LogLevel.Critical, Message = "Kernel error while running {ActorPath}")]
    public static partial void KernelError(ILogger logger, Exception exception, string actorPath);

    [LoggerMessage(EventId = 10, Level = LogLevel.Critical, Message = "The root guardian failed; the actor system stops")]
    public static partial void RootFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 11, Level = LogLevel.Error, Message = "The supervisor strategy of {ActorPath} threw; escalating")]
    public static partial void DeciderFailed(ILogger logger, Exception exception, string actorPath);
}
