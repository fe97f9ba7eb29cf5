using System.Collections.Concurrent;
using System.Diagnostics;
using System.Numerics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.Actor;

/// <summary>
/// A hashed timing wheel (Varghese and Lauck; the design of Akka's and Netty's schedulers). One
/// background thread advances the wheel every tick and fires the entries of that tick's bucket;
/// entries further away than one revolution wait a number of rounds. Scheduling and cancelling
/// are O(1) and allocate one entry, so a hundred thousand actors can each hold a deadline without
/// a <see cref="Timer"/> apiece. Messages are told on the timer thread (telling only enqueues);
/// actions run on the thread pool.
/// </summary>
public sealed class HashedWheelTimerScheduler : IScheduler, IDisposable
{
    private readonly ConcurrentQueue<Entry> _incoming = new();
    private readonly Entry?[] _wheel;
    private readonly int _mask;
    private readonly int _wheelShift;
    private readonly long _tickTicks;
    private readonly long _start;
    private readonly Thread _thread;
    private readonly ManualResetEventSlim _stopSignal = new(false);
    private readonly ILogger _log;
    private long _tick;
    private volatile bool _stopped;

    /// <summary>Starts a scheduler with the given resolution.</summary>
    /// <param name="tickDuration">The wheel's resolution (the maximum lateness), at least 1 ms.</param>
    /// <param name="ticksPerWheel">Buckets per revolution, rounded up to a power of two.</param>
    /// <param name="log">Where failures of scheduled tasks are logged.</param>
    public HashedWheelTimerScheduler(TimeSpan tickDuration, int ticksPerWheel = 512, ILogger? log = null)
    {
        if (tickDuration < TimeSpan.FromMilliseconds(1))
        {
            throw new ArgumentOutOfRangeException(nameof(tickDuration), tickDuration, "The tick must be at least 1 ms.");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(ticksPerWheel, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ticksPerWheel, 1 << 20);

        var size = 1;
        while (size < ticksPerWheel)
        {
            size <<= 1;
        }

        _wheel = new Entry?[size];
        _mask = size - 1;
        _wheelShift = BitOperations.Log2((uint)size);
        _tickTicks = (long)(tickDuration.TotalSeconds * Stopwatch.Frequency);
        TickDuration = tickDuration;
        _log = log ?? NullLogger.Instance;
        _start = Stopwatch.GetTimestamp();
        _thread = new Thread(Loop) { IsBackground = true, Name = "actor-scheduler" };
        _thread.Start();
    }

    /// <summary>The resolution: an entry fires at most this much (plus wake-up jitter) after its deadline.</summary>
    public TimeSpan TickDuration { get; }

    /// <inheritdoc/>
    public DateTimeOffset Now => DateTimeOffset.UtcNow;

    /// <inheritdoc/>
    public TimeSpan MonotonicClock => Stopwatch.GetElapsedTime(_start);

    /// <inheritdoc/>
    public void ScheduleTellOnce(TimeSpan delay, ICanTell receiver, object message, IActorRef? sender, ICancelable? cancelable = null) =>
        Add(new TellEntry(receiver, message, sender, cancelable), delay, TimeSpan.Zero);

    /// <inheritdoc/>
    public void ScheduleTellRepeatedly(TimeSpan initialDelay, TimeSpan interval, ICanTell receiver, object message, IActorRef? sender, ICancelable? cancelable = null) =>
        Add(new TellEntry(receiver, message, sender, cancelable), initialDelay, CheckInterval(interval));

    /// <inheritdoc/>
    public ICancelable ScheduleTellOnceCancelable(TimeSpan delay, ICanTell receiver, object message, IActorRef? sender) =>
        Add(new TellEntry(receiver, message, sender, null), delay, TimeSpan.Zero);

    /// <inheritdoc/>
    public ICancelable ScheduleTellRepeatedlyCancelable(TimeSpan initialDelay, TimeSpan interval, ICanTell receiver, object message, IActorRef? sender) =>
        Add(new TellEntry(receiver, message, sender, null), initialDelay, CheckInterval(interval));

    /// <inheritdoc/>
    public void ScheduleOnce(TimeSpan delay, Action action, ICancelable? cancelable = null) =>
        Add(new ActionEntry(action, cancelable, _log), delay, TimeSpan.Zero);

    /// <inheritdoc/>
    public void ScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, Action action, ICancelable? cancelable = null) =>
        Add(new ActionEntry(action, cancelable, _log), initialDelay, CheckInterval(interval));

    /// <inheritdoc/>
    public ICancelable ScheduleOnceCancelable(TimeSpan delay, Action action) =>
        Add(new ActionEntry(action, null, _log), delay, TimeSpan.Zero);

    /// <summary>Stops the timer thread; pending entries never fire.</summary>
    public void Dispose()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        _stopSignal.Set();
        if (Thread.CurrentThread != _thread)
        {
            _thread.Join();
        }
    }

    private static TimeSpan CheckInterval(TimeSpan interval)
    {
        if (interval <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(interval), interval, "A repeat interval must be positive.");
        }

        return interval;
    }

    private Entry Add(Entry entry, TimeSpan delay, TimeSpan interval)
    {
        if (delay < TimeSpan.Zero)
        {
            delay = TimeSpan.Zero;
        }

        entry.Deadline = Stopwatch.GetTimestamp() - _start + (long)(delay.TotalSeconds * Stopwatch.Frequency);
        entry.Interval = (long)(interval.TotalSeconds * Stopwatch.Frequency);
        if (!_stopped)
        {
            _incoming.Enqueue(entry);
        }

        return entry;
    }

    private void Loop()
    {
        while (!_stopped)
        {
            // The bucket of tick k is processed once the clock has passed the end of tick k.
            var tickEnd = (_tick + 1) * _tickTicks;
            var remaining = tickEnd - (Stopwatch.GetTimestamp() - _start);
            if (remaining > 0)
            {
                var milliseconds = (int)Math.Ceiling(remaining * 1000.0 / Stopwatch.Frequency);
                if (_stopSignal.Wait(milliseconds))
                {
                    return;
                }

                continue;
            }

            TransferIncoming();
            ProcessBucket();
            _tick++;
        }
    }

    private void TransferIncoming()
    {
        // Bounded per tick, so that a flood of registrations cannot stall the wheel.
        for (var i = 0; i < 1_000_000 && _incoming.TryDequeue(out var entry); i++)
        {
            if (!entry.IsCancellationRequested)
            {
                Place(entry, _tick);
            }
        }
    }

    private void Place(Entry entry, long earliestTick)
    {
        // The first tick whose end is at or after the deadline.
        var target = Math.Max((entry.Deadline + _tickTicks - 1) / _tickTicks - 1, earliestTick);
        entry.RemainingRounds = (target - _tick) >> _wheelShift;
        var bucket = (int)(target & _mask);
        entry.Next = _wheel[bucket];
        _wheel[bucket] = entry;
    }

    private void ProcessBucket()
    {
        var index = (int)(_tick & _mask);
        var entry = _wheel[index];
        _wheel[index] = null;
        Entry? kept = null;
        Entry? repeats = null;
        while (entry is not null)
        {
            var next = entry.Next;
            if (entry.IsCancellationRequested)
            {
                entry.Next = null;
            }
            else if (entry.RemainingRounds > 0)
            {
                entry.RemainingRounds--;
                entry.Next = kept;
                kept = entry;
            }
            else
            {
                Fire(entry);
                if (entry.Interval > 0 && !entry.IsCancellationRequested)
                {
                    entry.Deadline += entry.Interval;
                    entry.Next = repeats;
                    repeats = entry;
                }
                else
                {
                    entry.Next = null;
                }
            }

            entry = next;
        }

        _wheel[index] = kept;
        while (repeats is not null)
        {
            var next = repeats.Next;
            Place(repeats, _tick + 1);
            repeats = next;
        }
    }

    private void Fire(Entry entry)
    {
        try
        {
            entry.Run();
        }
        catch (Exception exception)
        {
            KernelLog.ScheduledTaskFailed(_log, exception);
        }
    }

    /// <summary>A timer entry; it is also the cancellation handle returned to the caller.</summary>
    private abstract class Entry(ICancelable? external) : ICancelable
    {
        private int _cancelled;

        public long Deadline;
        public long Interval;
        public long RemainingRounds;
        public Entry? Next;

        public bool IsCancellationRequested => Volatile.Read(ref _cancelled) == 1 || (external?.IsCancellationRequested ?? false);

        public void Cancel() => Volatile.Write(ref _cancelled, 1);

        public abstract void Run();
    }

    private sealed class TellEntry(ICanTell receiver, object message, IActorRef? sender, ICancelable? external) : Entry(external)
    {
        public override void Run() => receiver.Tell(message, sender);
    }

    private sealed class ActionEntry(Action action, ICancelable? external, ILogger log) : Entry(external)
    {
        public override void Run() => ThreadPool.UnsafeQueueUserWorkItem(
            static state =>
            {
                try
                {
                    state.action();
                }
                catch (Exception exception)
                {
                    KernelLog.ScheduledTaskFailed(state.log, exception);
                }
            },
            (action, log),
            preferLocal: false);
    }
}
