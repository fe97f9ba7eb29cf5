namespace Gateway.Actor;

/// <summary>Turns a task's outcome into a message, so an actor never awaits across its turn.</summary>
public static class PipeToSupport
{
    /// <summary>
    /// When <paramref name="task"/> completes, tells its result (or <paramref name="success"/>'s mapping of it)
    /// to <paramref name="recipient"/>; when it fails or is cancelled, tells <see cref="Status.Failure"/>
    /// (or <paramref name="failure"/>'s mapping). A <see langword="null"/> result is sent as <see cref="Status.Success"/>.
    /// </summary>
    public static Task PipeTo<T>(this Task<T> task, ICanTell recipient, IActorRef? sender = null, Func<T, object>? success = null, Func<Exception, object>? failure = null)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(recipient);
        return task.ContinueWith(
            completed =>
            {
                if (completed.IsCompletedSuccessfully)
                {
                    var result = completed.Result;
                    recipient.Tell(success is not null ? success(result) : (object?)result ?? new Status.Success(null), sender);
                }
                else
                {
                    var cause = Unwrap(completed);
                    recipient.Tell(failure is not null ? failure(cause) : new Status.Failure(cause), sender);
                }
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    /// <summary>
    /// When <paramref name="task"/> completes, tells <paramref name="success"/>'s message (nothing if none is given);
    /// when it fails or is cancelled, tells <see cref="Status.Failure"/> (or <paramref name="failure"/>'s mapping).
    /// </summary>
    public static Task PipeTo(this Task task, ICanTell recipient, IActorRef? sender = null, Func<object>? success = null, Func<Exception, object>? failure = null)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(recipient);
        return task.ContinueWith(
            completed =>
            {
                if (completed.IsCompletedSuccessfully)
                {
                    if (success is not null)
                    {
                        recipient.Tell(success(), sender);
                    }
                }
                else
                {
                    var cause = Unwrap(completed);
                    recipient.Tell(failure is not null ? failure(cause) : new Status.Failure(cause), sender);
                }
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    private static Exception Unwrap(Task task) =>
        task.Exception is { InnerExceptions.Count: 1 } aggregate
            ? aggregate.InnerExceptions[0]
            : (Exception?)task.Exception ?? new TaskCanceledException(task);
}
