using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.Actor;

/// <summary>
/// A hierarchy of actors sharing a scheduler, dead letters and an event stream. Top-level actors
/// live under <c>/user</c>; the kernel's own (such as test probes) under <c>/system</c>.
/// <see cref="Terminate"/> stops <c>/user</c> (children before parents), then <c>/system</c>, then the scheduler.
/// </summary>
public sealed class ActorSystem : IActorRefFactory, IDisposable
{
    private readonly TaskCompletionSource _whenTerminated = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ActorCell _root;
    private readonly HashedWheelTimerScheduler _scheduler;
    private readonly ActorCell _userGuardian;
    private readonly ActorCell _systemGuardian;
    private readonly DeadLetterActorRef _deadLetters;
    private int _deadLettersLogged;
    private int _terminateRequested;

    private ActorSystem(string name, ActorSystemSettings settings)
    {
        Name = name;
        Settings = settings;
        Throughput = Math.Max(1, settings.Throughput);
        LoggerFactory = settings.LoggerFactory ?? NullLoggerFactory.Instance;
        Log = LoggerFactory.CreateLogger("Gateway.Actor.ActorSystem");
        EventStream = new EventStream();
        _deadLetters = new DeadLetterActorRef(this);
        _scheduler = new HashedWheelTimerScheduler(settings.SchedulerTickDuration, settings.SchedulerTicksPerWheel, Log);

        _root = new ActorCell(this, null, Props.Create(() => new RootGuardian()), "/");
        var guardianStrategy = settings.GuardianSupervisorStrategy ?? SupervisorStrategy.DefaultStrategy;
        _userGuardian = (ActorCell)_root.ActorOf(Props.Create(() => new Guardian()).WithSupervisorStrategy(guardianStrategy), "user");
        _systemGuardian = (ActorCell)_root.ActorOf(Props.Create(() => new Guardian()), "system");
        _root.SendSystemMessage(new Create());
        StartTime = DateTimeOffset.UtcNow;
    }

    /// <summary>The system's name, the authority of its actor paths.</summary>
    public string Name { get; }

    /// <summary>The settings it was created with.</summary>
    public ActorSystemSettings Settings { get; }

    /// <summary>The shared scheduler (a hashed timing wheel).</summary>
    public IScheduler Scheduler => _scheduler;

    /// <summary>Publishes <see cref="DeadLetter"/>, <see cref="UnhandledMessage"/> and anything else to subscribed actors.</summary>
    public EventStream EventStream { get; }

    /// <summary>Where undeliverable messages go; telling it publishes a <see cref="DeadLetter"/>.</summary>
    public IActorRef DeadLetters => _deadLetters;

    /// <summary>The logger factory actors log through (<see cref="ActorLoggingExtensions.GetLogger"/>).</summary>
    public ILoggerFactory LoggerFactory { get; }

    /// <summary>Completes once every actor has stopped and the scheduler is shut down.</summary>
    public Task WhenTerminated => _whenTerminated.Task;

    /// <summary>When the system was created.</summary>
    public DateTimeOffset StartTime { get; }

    /// <summary>Time since <see cref="StartTime"/>.</summary>
    public TimeSpan Uptime => DateTimeOffset.UtcNow - StartTime;

    internal int Throughput { get; }

    internal ILogger Log { get; }

    /// <summary>Creates and starts a system.</summary>
    /// <param name="name">ASCII letters, digits, '-' and '_', starting with a letter or digit.</param>
    /// <param name="settings">Settings; <see langword="null"/> for the defaults.</param>
    public static ActorSystem Create(string name, ActorSystemSettings? settings = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!char.IsAsciiLetterOrDigit(name[0]) || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
        {
            throw new ArgumentException($"Invalid actor system name [{name}]: use ASCII letters, digits, '-' and '_', starting with a letter or digit.", nameof(name));
        }

        return new ActorSystem(name, settings ?? ActorSystemSettings.Default);
    }

    /// <summary>Creates a top-level actor under <c>/user</c>; see <see cref="IActorRefFactory.ActorOf"/>.</summary>
    /// <exception cref="InvalidOperationException">The system is terminating.</exception>
    public IActorRef ActorOf(Props props, string? name = null) => _userGuardian.ActorOf(props, name);

    /// <summary>Stops <paramref name="actor"/> asynchronously, as <see cref="IActorContext.Stop"/> does.</summary>
    public void Stop(IActorRef actor)
    {
        ArgumentNullException.ThrowIfNull(actor);
        if (actor is ActorCell cell)
        {
            cell.SendSystemMessage(new Terminate());
        }
    }

    /// <summary>Stops every actor (children before parents, each one's PostStop run) and the scheduler. Idempotent; returns <see cref="WhenTerminated"/>.</summary>
    public Task Terminate()
    {
        if (Interlocked.Exchange(ref _terminateRequested, 1) == 0)
        {
            _userGuardian.SendSystemMessage(new Terminate());
        }

        return WhenTerminated;
    }

    /// <summary>Terminates the system and waits up to 10 seconds for it.</summary>
    public void Dispose() => Terminate().Wait(TimeSpan.FromSeconds(10));

    /// <inheritdoc/>
    public override string ToString() => $"akka://{Name}";

    /// <summary>Creates an actor under <c>/system</c> (kernel and test-kit actors).</summary>
    internal IActorRef SystemActorOf(Props props, string? name = null) => _systemGuardian.ActorOf(props, name);

    internal void SendDeadLetter(object message, IActorRef? sender, IActorRef recipient)
    {
        if (message is DeadLetter)
        {
            // A dead letter about a dead letter (a stopped subscriber): publishing it again would loop.
            return;
        }

        PublishDeadLetter(new DeadLetter(message, sender ?? _deadLetters, recipient));
    }

    internal void PublishDeadLetter(DeadLetter deadLetter)
    {
        EventStream.Publish(deadLetter);
        var limit = Settings.LogDeadLetters;
        if (limit <= 0 || deadLetter.Message is IDeadLetterSuppression)
        {
            return;
        }

        var count = Interlocked.Increment(ref _deadLettersLogged);
        if (count <= limit)
        {
            KernelLog.DeadLetterLogged(Log, deadLetter.Message.GetType().Name, deadLetter.Sender.ToString()!, deadLetter.Recipient.ToString()!, count);
            if (count == limit)
            {
                KernelLog.DeadLettersSuppressed(Log, limit);
            }
        }
    }

    internal void OnRootTerminated()
    {
        _scheduler.Dispose();
        _whenTerminated.TrySetResult();
    }

    /// <summary>The root: stops /system after /user, and itself after /system, which ends the system.</summary>
    private sealed class RootGuardian : ActorBase
    {
        protected override void PreStart()
        {
            Context.Watch(Context.Child("user"));
            Context.Watch(Context.Child("system"));
        }

        protected override bool Receive(object message)
        {
            if (message is not Terminated terminated)
            {
                return false;
            }

            if (terminated.ActorRef.Path.Name == "user")
            {
                Context.Stop(Context.Child("system"));
            }
            else
            {
                Context.Stop(Self);
            }

            return true;
        }

        protected override SupervisorStrategy SupervisorStrategy() => Actor.SupervisorStrategy.StoppingStrategy;
    }

    /// <summary>The /user and /system guardians: parents only.</summary>
    private sealed class Guardian : ActorBase
    {
        protected override bool Receive(object message) => false;
    }
}
