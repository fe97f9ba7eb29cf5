namespace Gateway.Actor;

/// <summary>
/// An actor whose behaviour is a list of typed handlers registered in its constructor
/// (<c>Receive&lt;Ping&gt;(HandlePing)</c>). The first handler whose type (and predicate) matches
/// handles the message; none matching means <see cref="ActorBase.Unhandled"/>.
/// </summary>
public abstract class ReceiveActor : ActorBase
{
    private readonly HandlerSet _initial = new();
    private HandlerSet? _configuring;

    /// <summary>Starts configuring the initial behaviour: handlers registered in the constructor go there.</summary>
    protected ReceiveActor()
    {
        _configuring = _initial;
    }

    /// <summary>Registers a handler for messages of type <typeparamref name="T"/> (that satisfy <paramref name="shouldHandle"/>, if given).</summary>
    /// <exception cref="InvalidOperationException">Called outside the constructor or a <see cref="Become(Action)"/> configuration.</exception>
    protected void Receive<T>(Action<T> handler, Predicate<T>? shouldHandle = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        Configuring().Add(new ActionHandler<T>(handler, shouldHandle));
    }

    /// <summary>Registers a handler for messages of type <typeparamref name="T"/> that satisfy <paramref name="shouldHandle"/>.</summary>
    protected void Receive<T>(Predicate<T> shouldHandle, Action<T> handler) => Receive(handler, shouldHandle);

    /// <summary>Registers a handler for <typeparamref name="T"/> that says itself whether it handled the message.</summary>
    protected void Receive<T>(Func<T, bool> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        Configuring().Add(new FuncHandler<T>(handler));
    }

    /// <summary>
    /// Registers an asynchronous handler for <typeparamref name="T"/>. The actor processes no other message
    /// until the returned task completes; code after each <c>await</c> runs on the actor's turn, with
    /// <c>Context</c> and <c>Sender</c> intact. A faulted task is a failure of the actor.
    /// </summary>
    protected void ReceiveAsync<T>(Func<T, Task> handler, Predicate<T>? shouldHandle = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        Configuring().Add(new AsyncHandler<T>(handler, shouldHandle));
    }

    /// <summary>Registers a handler for any message (typically last).</summary>
    protected void ReceiveAny(Action<object> handler) => Receive(handler);

    /// <summary>Registers an asynchronous handler for any message (see <see cref="ReceiveAsync{T}"/>).</summary>
    protected void ReceiveAnyAsync(Func<object, Task> handler) => ReceiveAsync(handler);

    /// <summary>Replaces the current behaviour with the handlers that <paramref name="configure"/> registers.</summary>
    protected void Become(Action configure) => Context.Become(Build(configure));

    /// <summary>Pushes the handlers that <paramref name="configure"/> registers as the current behaviour.</summary>
    protected void BecomeStacked(Action configure) => Context.BecomeStacked(Build(configure));

    /// <inheritdoc/>
    protected sealed override bool Receive(object message) => _initial.TryHandle(message);

    internal override void AfterConstruction() => _configuring = null;

    private Receive Build(Action configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        var previous = _configuring;
        var set = new HandlerSet();
        _configuring = set;
        try
        {
            configure();
        }
        finally
        {
            _configuring = previous;
        }

        return set.TryHandle;
    }

    private HandlerSet Configuring() => _configuring
        ?? throw new InvalidOperationException(
            "Receive handlers can only be registered in the actor's constructor or inside Become(...)/BecomeStacked(...).");

    private abstract class Handler
    {
        public abstract bool TryHandle(object message);
    }

    private sealed class ActionHandler<T>(Action<T> handler, Predicate<T>? shouldHandle) : Handler
    {
        public override bool TryHandle(object message)
        {
            if (message is not T typed || (shouldHandle is not null && !shouldHandle(typed)))
            {
                return false;
            }

            handler(typed);
            return true;
        }
    }

    private sealed class FuncHandler<T>(Func<T, bool> handler) : Handler
    {
        public override bool TryHandle(object message) => message is T typed && handler(typed);
    }

    private sealed class AsyncHandler<T>(Func<T, Task> handler, Predicate<T>? shouldHandle) : Handler
    {
        public override bool TryHandle(object message)
        {
            if (message is not T typed || (shouldHandle is not null && !shouldHandle(typed)))
            {
                return false;
            }

            ActorCell.Current!.RunTask(handler, typed);
            return true;
        }
    }

    /// <summary>An ordered handler list; a single handler is kept without an array.</summary>
    private sealed class HandlerSet
    {
        private Handler? _single;
        private Handler[]? _many;
        private int _count;

        public void Add(Handler handler)
        {
            if (_count == 0)
            {
                _single = handler;
            }
            else
            {
                if (_many is null)
                {
                    _many = new Handler[4];
                    _many[0] = _single!;
                    _single = null;
                }
                else if (_count == _many.Length)
                {
                    Array.Resize(ref _many, _count * 2);
                }

                _many[_count] = handler;
            }

            _count++;
        }

        public bool TryHandle(object message)
        {
            if (_single is not null)
            {
                return _single.TryHandle(message);
            }

            var handlers = _many;
            for (var i = 0; i < _count; i++)
            {
                if (handlers![i].TryHandle(message))
                {
                    return true;
                }
            }

            return false;
        }
    }
}
