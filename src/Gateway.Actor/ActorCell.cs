namespace Gateway.Actor;

/// <summary>
/// One actor incarnation: its reference, its mailbox and its context in one object, to keep an
/// idle actor small. The mailbox is a multi-producer single-consumer queue of user messages plus a
/// lock-free stack of system messages; the cell schedules itself on the thread pool when it has
/// work and is idle, processes system messages first, at most <see cref="ActorSystemSettings.Throughput"/>
/// user messages per turn, and re-checks after going idle so no wake-up is lost.
/// </summary>
/// <remarks>
/// Threading: fields marked "turn only" are read and written only while the cell runs on its turn
/// (one thread at a time, with happens-before between turns through <see cref="_scheduled"/>).
/// Everything else is safe to touch from any thread.
/// </remarks>
internal sealed partial class ActorCell : IInternalActorRef, IActorContext, IThreadPoolWorkItem
{
    private const int StateAlive = 0;
    private const int StateTerminating = 1;
    private const int StateTerminated = 2;

    [ThreadStatic]
    private static ActorCell? t_current;

    [ThreadStatic]
    private static ActorCell? t_constructing;

    private static readonly AsyncLocal<IActorRef?> AmbientSender = new();

    private readonly ActorSystem _system;
    private readonly ActorCell? _parent;
    private readonly Props _props;
    private readonly string _name;
    private ActorPath? _path;

    // Turn only.
    private ActorBase? _actor;
    private object? _currentMessage;
    private IActorRef? _currentSender;
    private int _suspendCount;
    private bool _asyncPending;
    private bool _isFailed;

    // Mailbox (any thread).
    private Node _userHead;
    private Node _userTail;
    private SystemMessage? _systemQueue;
    private int _scheduled;
    private int _state;

    // The first watcher, kept inline: most actors have exactly one (their supervisor, when it watches).
    private IInternalActorRef? _firstWatcher;

    // Rarely used state, allocated on first use.
    private Extras? _extras;

    internal ActorCell(ActorSystem system, ActorCell? parent, Props props, string name)
    {
        _system = system;
        _parent = parent;
        _props = props;
        _name = name;
        _userHead = _userTail = new Node(null, null);
    }

    /// <summary>The cell whose turn is running on this thread, if any.</summary>
    internal static ActorCell? Current => t_current;

    public ActorPath Path => _path ??= _parent is null ? ActorPath.CreateRoot(_system.Name) : _parent.Path / _name;

    public bool IsTerminated => Volatile.Read(ref _state) == StateTerminated;

    public IActorRef Self => this;

    public IActorRef Sender => _currentSender ?? _system.DeadLetters;

    public IActorRef Parent => (IActorRef?)_parent ?? ActorRefs.Nobody;

    public ActorSystem System => _system;

    public Props Props => _props;

    internal string Name => _name;

    internal ActorCell? ParentCell => _parent;

    private Extras Ext => _extras ?? LazyInitializer.EnsureInitialized(ref _extras);

    private bool CanProcessUserMessages =>
        _state == StateAlive && _suspendCount == 0 && !_asyncPending && _actor is not null;

    private bool HasUserMessages => !ReferenceEquals(Volatile.Read(ref _userHead), _userTail);

    internal static ActorCell? TakeConstructingCell()
    {
        var cell = t_constructing;
        t_constructing = null;
        return cell;
    }

    internal static IActorRef? GetCurrentSelfOrNoSender() => t_current ?? AmbientSender.Value;

    internal static IActorRef? GetCurrentSenderOrNoSender() => t_current?._currentSender;

    /// <summary>Sets the implicit sender for code outside actors in the current async flow (the test kit's TestActor).</summary>
    internal static void SetAmbientSender(IActorRef? sender) => AmbientSender.Value = sender;

    public void Tell(object message, IActorRef? sender)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (Volatile.Read(ref _state) == StateTerminated)
        {
            _system.SendDeadLetter(message, sender, this);
            return;
        }

        var node = new Node(message, sender);
        var previous = Interlocked.Exchange(ref _userHead, node);
        Volatile.Write(ref previous.Next, node);

        // The exchange above is a full fence, and termination writes the state before its final
        // drain (also fenced): either we see the cell terminated here, or its drain sees our node.
        if (Volatile.Read(ref _state) == StateTerminated)
        {
            DrainUserMessagesToDeadLetters();
            return;
        }

        Schedule();
    }

    public void SendSystemMessage(SystemMessage message)
    {
        while (true)
        {
            var head = Volatile.Read(ref _systemQueue);
            if (ReferenceEquals(head, MailboxClosed.Instance))
            {
                HandleDeadSystemMessage(message);
                return;
            }

            message.Next = head;
            if (ReferenceEquals(Interlocked.CompareExchange(ref _systemQueue, message, head), head))
            {
                break;
            }
        }

        Schedule();
    }

    public void Execute()
    {
        var previous = t_current;
        t_current = this;
        try
        {
            Run();
        }
        catch (Exception exception)
        {
            // Only a kernel bug gets here (user code is guarded where it is called); never let it
            // take the process down with it.
            KernelLog.KernelError(_system.Log, exception, Path.ToString());
        }
        finally
        {
            t_current = previous;
        }

        // Full fence: a producer either sees us idle and schedules, or we see its message below.
        Interlocked.Exchange(ref _scheduled, 0);
        if (NeedsAnotherTurn())
        {
            Schedule();
        }
    }

    public bool Equals(IActorRef? other) => ReferenceEquals(this, other);

    public override bool Equals(object? obj) => ReferenceEquals(this, obj);

    public override int GetHashCode() => base.GetHashCode();

    public int CompareTo(IActorRef? other) => other is null ? 1 : Path.CompareTo(other.Path);

    public override string ToString() => $"[{Path}]";

    internal void PublishUnhandled(object message)
    {
        var sender = Sender;
        KernelLog.Unhandled(_system.Log, message.GetType().Name, sender.ToString()!, Path.ToString());
        _system.EventStream.Publish(new UnhandledMessage(message, sender, this));
    }

    internal void MarkSubscribedToEventStream() => Ext.SubscribedToEventStream = true;

    private void Schedule()
    {
        if (Interlocked.CompareExchange(ref _scheduled, 1, 0) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }

    private bool NeedsAnotherTurn()
    {
        if (Volatile.Read(ref _state) == StateTerminated)
        {
            return false;
        }

        return Volatile.Read(ref _systemQueue) is not null || (CanProcessUserMessages && HasUserMessages);
    }

    private void Run()
    {
        ProcessSystemMessages();
        var budget = _system.Throughput;
        while (budget-- > 0 && CanProcessUserMessages && TryDequeue(out var message, out var sender))
        {
            Invoke(message, sender);
            if (Volatile.Read(ref _systemQueue) is not null)
            {
                ProcessSystemMessages();
            }
        }
    }

    private bool TryDequeue(out object message, out IActorRef? sender)
    {
        var tail = _userTail;
        var next = Volatile.Read(ref tail.Next);
        if (next is null)
        {
            if (ReferenceEquals(Volatile.Read(ref _userHead), tail))
            {
                message = null!;
                sender = null;
                return false;
            }

            // A producer has swapped the head but not linked its node yet: it is a few
            // instructions away from doing so.
            var spinner = default(SpinWait);
            while ((next = Volatile.Read(ref tail.Next)) is null)
            {
                spinner.SpinOnce();
            }
        }

        _userTail = next;
        message = next.Message!;
        sender = next.Sender;
        next.Message = null;
        next.Sender = null;
        return true;
    }

    private void DrainUserMessagesToDeadLetters()
    {
        // After termination nothing dequeues on a turn any more; the lock makes the drains
        // (the final one and any racing producer's) take turns as the queue's single consumer.
        lock (_props)
        {
            while (TryDequeue(out var message, out var sender))
            {
                _system.SendDeadLetter(message, sender, this);
            }
        }
    }

    private void ProcessSystemMessages()
    {
        while (Volatile.Read(ref _state) != StateTerminated)
        {
            var batch = Interlocked.Exchange(ref _systemQueue, null);
            if (batch is null)
            {
                return;
            }

            // The queue is a stack (newest first); restore sending order.
            SystemMessage? ordered = null;
            while (batch is not null)
            {
                var next = batch.Next;
                batch.Next = ordered;
                ordered = batch;
                batch = next;
            }

            while (ordered is not null)
            {
                var next = ordered.Next;
                ordered.Next = null;
                if (Volatile.Read(ref _state) == StateTerminated)
                {
                    HandleDeadSystemMessage(ordered);
                }
                else
                {
                    InvokeSystem(ordered);
                }

                ordered = next;
            }
        }
    }

    private void InvokeSystem(SystemMessage message)
    {
        try
        {
            switch (message)
            {
                case Create:
                    HandleCreate();
                    break;
                case RunContinuation continuation:
                    RunContinuationOnTurn(continuation);
                    break;
                case AsyncHandlerCompleted completed:
                    HandleAsyncHandlerCompleted(completed);
                    break;
                case Watch watch:
                    HandleWatch(watch);
                    break;
                case Unwatch unwatch:
                    HandleUnwatch(unwatch);
                    break;
                case DeathWatchNotification notification:
                    HandleDeathWatchNotification(notification);
                    break;
                case Failed failed:
                    HandleFailed(failed);
                    break;
                case ChildTerminated childTerminated:
                    HandleChildTerminated(childTerminated.Child);
                    break;
                case Terminate:
                    HandleTerminate();
                    break;
                case Recreate recreate:
                    HandleRecreate(recreate.Cause);
                    break;
                case Suspend:
                    HandleSuspend();
                    break;
                case Resume resume:
                    HandleResume(resume.CausedByFailure);
                    break;
            }
        }
        catch (Exception exception)
        {
            HandleInvokeFailure(exception);
        }
    }

    private void HandleDeadSystemMessage(SystemMessage message)
    {
        // A stopped actor still answers a watch, so that watching a dead actor yields Terminated at once.
        if (message is Watch watch && ReferenceEquals(watch.Watchee, this) && !ReferenceEquals(watch.Watcher, this))
        {
            watch.Watcher.SendSystemMessage(new DeathWatchNotification(this, existenceConfirmed: false));
        }
    }

    private void Invoke(object message, IActorRef? sender)
    {
        _currentMessage = message;
        _currentSender = sender;
        try
        {
            if (message is IAutoReceivedMessage)
            {
                AutoReceive(message);
            }
            else
            {
                ReceiveMessage(message);
            }

            if (_extras?.ReceiveTimeout is not null && message is not INotInfluenceReceiveTimeout)
            {
                RescheduleReceiveTimeout();
            }
        }
        catch (Exception exception)
        {
            HandleInvokeFailure(exception);
        }
        finally
        {
            _currentMessage = null;
            _currentSender = null;
        }
    }

    private void ReceiveMessage(object message)
    {
        var actor = _actor!;
        var behaviors = _extras?.Behaviors;
        var handled = behaviors is { Count: > 0 } ? behaviors[^1](message) : actor.InvokeReceive(message);
        if (!handled)
        {
            actor.InvokeUnhandled(message);
        }
    }

    private void AutoReceive(object message)
    {
        switch (message)
        {
            case DeathWatchDelivery delivery:
                ReceivedTerminated(delivery.Terminated);
                break;
            case PoisonPill:
                SendSystemMessage(new Terminate());
                break;
            case Kill:
                throw new ActorKilledException("Kill");
            case Identify identify:
                Sender.Tell(new ActorIdentity(identify.MessageId, this), this);
                break;
            case ReceiveTimeoutTick tick:
                ReceivedReceiveTimeoutTick(tick);
                break;
            default:
                ReceiveMessage(message);
                break;
        }
    }

    /// <summary>A message in the user queue, linked towards newer messages.</summary>
    private sealed class Node(object? message, IActorRef? sender)
    {
        public object? Message = message;
        public IActorRef? Sender = sender;
        public Node? Next;
    }

    /// <summary>State most actors never need: kept out of line to keep an idle actor small.</summary>
    private sealed class Extras
    {
        public Dictionary<string, ActorCell>? Children;
        public HashSet<ActorCell>? ChildrenToDie;
        public long ChildNameCounter;
        public HashSet<IInternalActorRef>? WatchedBy;
        public Dictionary<IActorRef, object?>? Watching;
        public Dictionary<IActorRef, object?>? TerminatedQueued;
        public List<Receive>? Behaviors;
        public TimeSpan? ReceiveTimeout;
        public ICancelable? ReceiveTimeoutTask;
        public int ReceiveTimeoutGeneration;
        public ActorSynchronizationContext? SynchronizationContext;
        public object? AsyncMessage;
        public IActorRef? AsyncSender;
        public SupervisorStrategy? Strategy;
        public ChildRestartStats? RestartStats;
        public Exception? PendingRecreate;
        public object? FailedMessage;
        public bool SubscribedToEventStream;
    }
}
