namespace Gateway.Actor;

/// <summary>
/// Sends messages and runs actions later. Delays are measured on a monotonic clock; a task never
/// runs early, and runs at most one tick (plus thread wake-up jitter) late. Cancelled tasks never run.
/// </summary>
public interface IScheduler
{
    /// <summary>The wall-clock time.</summary>
    DateTimeOffset Now { get; }

    /// <summary>Monotonic time since the scheduler started.</summary>
    TimeSpan MonotonicClock { get; }

    /// <summary>Tells <paramref name="message"/> to <paramref name="receiver"/> after <paramref name="delay"/>, unless <paramref name="cancelable"/> is cancelled first.</summary>
    void ScheduleTellOnce(TimeSpan delay, ICanTell receiver, object message, IActorRef? sender, ICancelable? cancelable = null);

    /// <summary>Tells <paramref name="message"/> after <paramref name="initialDelay"/> and then every <paramref name="interval"/> (fixed rate) until cancelled.</summary>
    void ScheduleTellRepeatedly(TimeSpan initialDelay, TimeSpan interval, ICanTell receiver, object message, IActorRef? sender, ICancelable? cancelable = null);

    /// <summary>As <see cref="ScheduleTellOnce"/>, returning the handle that cancels it (one allocation: the handle is the timer entry).</summary>
    ICancelable ScheduleTellOnceCancelable(TimeSpan delay, ICanTell receiver, object message, IActorRef? sender);

    /// <summary>As <see cref="ScheduleTellRepeatedly"/>, returning the handle that cancels it.</summary>
    ICancelable ScheduleTellRepeatedlyCancelable(TimeSpan initialDelay, TimeSpan interval, ICanTell receiver, object message, IActorRef? sender);

    /// <summary>Runs <paramref name="action"/> on the thread pool after <paramref name="delay"/>, unless cancelled first.</summary>
    void ScheduleOnce(TimeSpan delay, Action action, ICancelable? cancelable = null);

    /// <summary>Runs <paramref name="action"/> on the thread pool after <paramref name="initialDelay"/> and then every <paramref name="interval"/> until cancelled.</summary>
    void ScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, Action action, ICancelable? cancelable = null);

    /// <summary>As <see cref="ScheduleOnce"/>, returning the handle that cancels it.</summary>
    ICancelable ScheduleOnceCancelable(TimeSpan delay, Action action);
}
