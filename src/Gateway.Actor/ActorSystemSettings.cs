using Microsoft.Extensions.Logging;

namespace Gateway.Actor;

/// <summary>Settings of an <see cref="ActorSystem"/>; every property has a working default.</summary>
public sealed record ActorSystemSettings
{
    /// <summary>The defaults.</summary>
    public static ActorSystemSettings Default { get; } = new();

    /// <summary>User messages an actor processes per turn before yielding its thread (fairness vs. throughput). Default 30, as Akka's.</summary>
    public int Throughput { get; init; } = 30;

    /// <summary>The scheduler's resolution. Default 10 ms.</summary>
    public TimeSpan SchedulerTickDuration { get; init; } = TimeSpan.FromMilliseconds(10);

    /// <summary>Buckets in the scheduler's wheel. Default 512.</summary>
    public int SchedulerTicksPerWheel { get; init; } = 512;

    /// <summary>Timeout of an <c>Ask</c> that does not give one; <see langword="null"/> (default) means no timeout.</summary>
    public TimeSpan? AskTimeout { get; init; }

    /// <summary>How many dead letters are logged (at information level) before further ones are only published. Default 10; 0 turns logging off.</summary>
    public int LogDeadLetters { get; init; } = 10;

    /// <summary>Where the system and its actors log. Default: nowhere.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>How the <c>/user</c> guardian supervises top-level actors. Default <see cref="SupervisorStrategy.DefaultStrategy"/>.</summary>
    public SupervisorStrategy? GuardianSupervisorStrategy { get; init; }
}
