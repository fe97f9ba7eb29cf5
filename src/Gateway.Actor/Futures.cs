namespace Gateway.Actor;

/// <summary>Request-response from outside actors (HTTP handlers, tests). Inside actors, prefer <c>Tell</c> and <see cref="PipeToSupport.PipeTo{T}"/>.</summary>
public static class Futures
{
    private static long _promiseCounter;

    /// <summary>
    /// Tells <paramref name="message"/> to <paramref name="receiver"/> with a temporary sender and returns
    /// the first reply. A <see cref="Status.Failure"/> reply faults the task with its cause; a reply of
    /// another type faults it with <see cref="InvalidCastException"/>; no reply within
    /// <paramref name="timeout"/> (default: <see cref="ActorSystemSettings.AskTimeout"/>, none if unset)
    /// faults it with <see cref="AskTimeoutException"/>; <paramref name="cancellationToken"/> cancels it.
    /// </summary>
    public static Task<T> Ask<T>(this ICanTell receiver, object message, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        return Ask<T>(receiver, _ => message, timeout, cancellationToken);
    }

    /// <summary>As <see cref="Ask{T}(ICanTell, object, TimeSpan?, CancellationToken)"/>, for any reply type.</summary>
    public static Task<object> Ask(this ICanTell receiver, object message, TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        Ask<object>(receiver, message, timeout, cancellationToken);

    /// <summary>As <see cref="Ask{T}(ICanTell, object, TimeSpan?, CancellationToken)"/>, for messages that carry their reply-to reference: <paramref name="messageFactory"/> receives it.</summary>
    public static Task<T> Ask<T>(this ICanTell receiver, Func<IActorRef, object> messageFactory, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(receiver);
        ArgumentNullException.ThrowIfNull(messageFactory);
        var system = (receiver as ActorCell)?.System;
        var effective = timeout ?? system?.Settings.AskTimeout;
        if (effective is { } value && value <= TimeSpan.Zero && value != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), value, "An ask timeout must be positive.");
        }

        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<T>(cancellationToken);
        }

        var id = Interlocked.Increment(ref _promiseCounter);
        var promise = new PromiseActorRef<T>(system?.Name ?? "all-systems", id);
        promise.Start(effective is { } t && t != Timeout.InfiniteTimeSpan ? t : null, cancellationToken, receiver);
        receiver.Tell(messageFactory(promise), promise);
        return promise.Task;
    }
}

/// <summary>The temporary sender of an ask: completes its task with the first reply.</summary>
internal sealed class PromiseActorRef<T>(string systemName, long id) : MinimalActorRef
{
    private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private CancellationTokenSource? _timeout;
    private CancellationTokenRegistration _cancellation;
    private ActorPath? _path;

    public Task<T> Task => _completion.Task;

    public override ActorPath Path => _path ??= ActorPath.CreateRoot(systemName) / "temp" / ("$" + id.ToString(System.Globalization.CultureInfo.InvariantCulture));

    public override bool IsTerminated => _completion.Task.IsCompleted;

    public void Start(TimeSpan? timeout, CancellationToken cancellationToken, ICanTell receiver)
    {
        if (timeout is { } value)
        {
            _timeout = new CancellationTokenSource(value);
            _timeout.Token.UnsafeRegister(
                static state =>
                {
                    var (promise, receiver, value) = ((PromiseActorRef<T>, ICanTell, TimeSpan))state!;
                    promise.Complete(() => promise._completion.TrySetException(
                        new AskTimeoutException($"Ask timed out on [{receiver}] after [{value.TotalMilliseconds} ms].")));
                },
                (this, receiver, value));
        }

        if (cancellationToken.CanBeCanceled)
        {
            _cancellation = cancellationToken.UnsafeRegister(
                static (state, token) =>
                {
                    var promise = (PromiseActorRef<T>)state!;
                    promise.Complete(() => promise._completion.TrySetCanceled(token));
                },
                this);
        }
    }

    public override void Tell(object message, IActorRef? sender)
    {
        ArgumentNullException.ThrowIfNull(message);
        Complete(() =>
        {
            switch (message)
            {
                case Status.Failure failure:
                    _completion.TrySetException(failure.Cause);
                    break;
                case T reply:
                    _completion.TrySetResult(reply);
                    break;
                default:
                    _completion.TrySetException(new InvalidCastException(
                        $"Ask expected a reply of type {typeof(T).Name} but received {message.GetType().Name}: {message}"));
                    break;
            }
        });
    }

    private void Complete(Action complete)
    {
        if (_completion.Task.IsCompleted)
        {
            return;
        }

        complete();
        _timeout?.Dispose();
        _cancellation.Dispose();
    }
}
