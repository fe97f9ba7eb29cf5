using System.Diagnostics;

namespace Gateway.Actor;

/// <summary>What a supervisor does with a failed child.</summary>
public enum Directive
{
    /// <summary>Keep the child's instance and state; the failing message is dropped.</summary>
    Resume,

    /// <summary>Replace the child's instance with a fresh one; its mailbox (queued messages) is kept, the failing message is dropped.</summary>
    Restart,

    /// <summary>Stop the child.</summary>
    Stop,

    /// <summary>Fail the supervisor itself with the same exception, so that its own supervisor decides.</summary>
    Escalate,
}

/// <summary>
/// How an actor treats its failing children: a decider maps the exception to a <see cref="Directive"/>,
/// and restarts are limited to <see cref="MaxNumberOfRetries"/> within <see cref="WithinTimeRange"/>
/// (past the limit the child is stopped).
/// </summary>
public abstract class SupervisorStrategy
{
    private readonly Func<Exception, Directive> _decider;

    /// <summary>Creates a strategy.</summary>
    /// <param name="maxNrOfRetries">Restarts allowed per child within the window; <see langword="null"/> or negative means unlimited, 0 means never restart.</param>
    /// <param name="withinTimeRange">The window; <see langword="null"/>, zero or <see cref="Timeout.InfiniteTimeSpan"/> means no window (the count never resets).</param>
    /// <param name="decider">Maps an exception to a directive.</param>
    protected SupervisorStrategy(int? maxNrOfRetries, TimeSpan? withinTimeRange, Func<Exception, Directive> decider)
    {
        ArgumentNullException.ThrowIfNull(decider);
        MaxNumberOfRetries = maxNrOfRetries is { } retries && retries >= 0 ? retries : -1;
        WithinTimeRange = withinTimeRange is { } window && window > TimeSpan.Zero ? window : null;
        _decider = decider;
    }

    /// <summary>Restarts allowed per child within <see cref="WithinTimeRange"/>; -1 means unlimited.</summary>
    public int MaxNumberOfRetries { get; }

    /// <summary>The window over which restarts are counted; <see langword="null"/> means unbounded.</summary>
    public TimeSpan? WithinTimeRange { get; }

    /// <summary>
    /// Akka's default decider: <see cref="ActorInitializationException"/>, <see cref="ActorKilledException"/>
    /// and <see cref="DeathPactException"/> stop the child; any other exception restarts it.
    /// </summary>
    public static Directive DefaultDecider(Exception exception) => exception switch
    {
        ActorInitializationException => Directive.Stop,
        ActorKilledException => Directive.Stop,
        DeathPactException => Directive.Stop,
        _ => Directive.Restart,
    };

    /// <summary>One-for-one with <see cref="DefaultDecider"/> and unlimited restarts: what an actor uses unless it overrides <c>SupervisorStrategy()</c>.</summary>
    public static SupervisorStrategy DefaultStrategy { get; } = new OneForOneStrategy(DefaultDecider);

    /// <summary>One-for-one that stops every failing child.</summary>
    public static SupervisorStrategy StoppingStrategy { get; } = new OneForOneStrategy(static _ => Directive.Stop);

    /// <summary>Whether failures are logged (Resume at warning, Restart and Stop at error). Default true.</summary>
    public virtual bool LoggingEnabled => true;

    /// <summary>Applies the decider to <paramref name="cause"/>.</summary>
    public Directive Decide(Exception cause) => _decider(cause);

    internal bool HandleFailure(ActorCell parent, ActorCell child, Exception cause)
    {
        Directive directive;
        try
        {
            directive = Decide(cause);
        }
        catch (Exception deciderFailure)
        {
            KernelLog.DeciderFailed(parent.System.Log, deciderFailure, parent.Path.ToString());
            directive = Directive.Escalate;
        }

        if (LoggingEnabled)
        {
            LogFailure(parent, child, cause, directive);
        }

        switch (directive)
        {
            case Directive.Resume:
                child.SendSystemMessage(new Resume(cause));
                return true;
            case Directive.Restart:
                ProcessFailure(parent, restart: true, child, cause);
                return true;
            case Directive.Stop:
                ProcessFailure(parent, restart: false, child, cause);
                return true;
            default:
                return false;
        }
    }

    /// <summary>Restarts (when allowed) or stops the failed child, and for all-for-one, its siblings.</summary>
    private protected abstract void ProcessFailure(ActorCell parent, bool restart, ActorCell child, Exception cause);

    private protected bool RequestRestartPermission(ActorCell child) =>
        child.RestartStats.RequestRestartPermission(MaxNumberOfRetries, WithinTimeRange);

    private static void LogFailure(ActorCell parent, ActorCell child, Exception cause, Directive directive)
    {
        var log = parent.System.Log;
        switch (directive)
        {
            case Directive.Resume:
                KernelLog.ChildResumed(log, cause, child.Path.ToString(), cause.Message);
                break;
            case Directive.Escalate:
                break;
            default:
                KernelLog.ChildFailed(log, cause, child.Path.ToString(), directive.ToString(), cause.Message);
                break;
        }
    }
}

/// <summary>Applies each decision to the failed child only.</summary>
public sealed class OneForOneStrategy : SupervisorStrategy
{
    /// <summary>Creates the strategy; see <see cref="SupervisorStrategy"/> for the limits.</summary>
    public OneForOneStrategy(int? maxNrOfRetries, TimeSpan? withinTimeRange, Func<Exception, Directive> localOnlyDecider)
        : base(maxNrOfRetries, withinTimeRange, localOnlyDecider)
    {
    }

    /// <summary>Creates the strategy with unlimited restarts.</summary>
    public OneForOneStrategy(Func<Exception, Directive> localOnlyDecider)
        : base(null, null, localOnlyDecider)
    {
    }

    private protected override void ProcessFailure(ActorCell parent, bool restart, ActorCell child, Exception cause)
    {
        if (restart && RequestRestartPermission(child))
        {
            child.SendSystemMessage(new Recreate(cause));
        }
        else
        {
            parent.Stop(child);
        }
    }
}

/// <summary>Applies each decision to all the children: one failing child restarts or stops its siblings too.</summary>
public sealed class AllForOneStrategy : SupervisorStrategy
{
    /// <summary>Creates the strategy; see <see cref="SupervisorStrategy"/> for the limits.</summary>
    public AllForOneStrategy(int? maxNrOfRetries, TimeSpan? withinTimeRange, Func<Exception, Directive> decider)
        : base(maxNrOfRetries, withinTimeRange, decider)
    {
    }

    /// <summary>Creates the strategy with unlimited restarts.</summary>
    public AllForOneStrategy(Func<Exception, Directive> decider)
        : base(null, null, decider)
    {
    }

    private protected override void ProcessFailure(ActorCell parent, bool restart, ActorCell child, Exception cause)
    {
        var children = parent.ChildrenSnapshot();
        var allowed = restart;
        foreach (var each in children)
        {
            allowed &= RequestRestartPermission(each);
        }

        foreach (var each in children)
        {
            if (allowed)
            {
                if (!ReferenceEquals(each, child))
                {
                    // Siblings did not fail, so suspend them first: Recreate resumes them once.
                    each.SendSystemMessage(new Suspend());
                }

                each.SendSystemMessage(new Recreate(cause));
            }
            else
            {
                parent.Stop(each);
            }
        }
    }
}

/// <summary>A child's restart count within the current window, kept by its supervisor.</summary>
public sealed class ChildRestartStats
{
    private long _windowStart;

    /// <summary>Restarts counted in the current window.</summary>
    public int RestartCount { get; private set; }

    /// <summary>Counts a restart and says whether it is within the limits.</summary>
    /// <param name="maxNrOfRetries">-1 for unlimited.</param>
    /// <param name="withinTimeRange"><see langword="null"/> for no window.</param>
    public bool RequestRestartPermission(int maxNrOfRetries, TimeSpan? withinTimeRange)
    {
        if (maxNrOfRetries < 0)
        {
            return true;
        }

        if (withinTimeRange is null)
        {
            RestartCount++;
            return RestartCount <= maxNrOfRetries;
        }

        var now = Stopwatch.GetTimestamp();
        if (RestartCount == 0 || Stopwatch.GetElapsedTime(_windowStart, now) > withinTimeRange.Value)
        {
            // A new window starts with this restart.
            _windowStart = now;
            RestartCount = 1;
            return maxNrOfRetries >= 1;
        }

        RestartCount++;
        return RestartCount <= maxNrOfRetries;
    }
}
