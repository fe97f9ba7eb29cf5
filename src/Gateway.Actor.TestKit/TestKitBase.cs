using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;
using Xunit.Sdk;

namespace Gateway.Actor.TestKit;

/// <summary>
/// The expectations shared by <see cref="TestKit"/> and <see cref="TestProbe"/>: a test actor that
/// queues every message it receives, and async assertions over that queue. Every wait is bounded:
/// by the given timeout, else by the enclosing <see cref="WithinAsync(TimeSpan, Func{Task})"/> block,
/// else by <see cref="DefaultTimeout"/> (3 s times the time factor).
/// </summary>
public abstract class TestKitBase
{
    /// <summary>The environment variable that scales every test-kit timeout, for slow machines (default 1).</summary>
    public const string TimeFactorVariable = "GATEWAY_TEST_TIMEFACTOR";

    private readonly Channel<Envelope> _queue;
    private Envelope? _peeked;
    private long? _withinEnd;

    /// <summary>Creates the test actor in <paramref name="system"/>.</summary>
    protected TestKitBase(ActorSystem system, string testActorName)
    {
        ArgumentNullException.ThrowIfNull(system);
        Sys = system;
        _queue = Channel.CreateUnbounded<Envelope>(new UnboundedChannelOptions { SingleReader = true });
        var writer = _queue.Writer;
        TestActor = system.SystemActorOf(Props.Create(() => new QueueingActor(writer)), testActorName + "-" + Interlocked.Increment(ref _counter).ToString(CultureInfo.InvariantCulture));
        TimeFactor = ReadTimeFactor();
    }

    private static long _counter;

    /// <summary>The system under test.</summary>
    public ActorSystem Sys { get; }

    /// <summary>The actor whose received messages the expectations read.</summary>
    public IActorRef TestActor { get; }

    /// <summary>The multiplier applied to every timeout (<see cref="TimeFactorVariable"/>).</summary>
    public double TimeFactor { get; }

    /// <summary>3 seconds, dilated by <see cref="TimeFactor"/>.</summary>
    public TimeSpan DefaultTimeout => Dilated(TimeSpan.FromSeconds(3));

    /// <summary>The sender of the last message received by an expectation; dead letters before any.</summary>
    public IActorRef LastSender { get; private set; } = null!;

    /// <summary>The last message received by an expectation.</summary>
    public object? LastMessage { get; private set; }

    /// <summary>Time left in the enclosing <c>WithinAsync</c> block, else <see cref="DefaultTimeout"/>.</summary>
    public TimeSpan RemainingOrDefault => _withinEnd is { } end ? Max(Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), end), TimeSpan.Zero) : DefaultTimeout;

    /// <summary>Scales <paramref name="duration"/> by <see cref="TimeFactor"/>.</summary>
    public TimeSpan Dilated(TimeSpan duration) => duration == Timeout.InfiniteTimeSpan ? duration : TimeSpan.FromTicks((long)(duration.Ticks * TimeFactor));

    /// <summary>A new probe in the same system.</summary>
    public TestProbe CreateTestProbe(string? name = null) => new(Sys, name);

    /// <summary>
    /// Makes the test actor watch <paramref name="actor"/>: its <see cref="Terminated"/> arrives in this queue.
    /// Returns at once, as Akka's does; an actor that dies before the watch takes effect still yields its
    /// <see cref="Terminated"/> (with <see cref="Terminated.ExistenceConfirmed"/> false).
    /// </summary>
    public IActorRef Watch(IActorRef actor)
    {
        TestActor.Tell(new WatchCommand(actor, Watch: true), ActorRefs.NoSender);
        return actor;
    }

    /// <summary>Makes the test actor stop watching <paramref name="actor"/> (after everything told to it before).</summary>
    public IActorRef Unwatch(IActorRef actor)
    {
        TestActor.Tell(new WatchCommand(actor, Watch: false), ActorRefs.NoSender);
        return actor;
    }

    /// <summary>Tells <paramref name="message"/> to <paramref name="actor"/> with the test actor as sender.</summary>
    public void Send(IActorRef actor, object message)
    {
        ArgumentNullException.ThrowIfNull(actor);
        actor.Tell(message, TestActor);
    }

    /// <summary>Tells <paramref name="message"/> to <see cref="LastSender"/>, from the test actor.</summary>
    public void Reply(object message) => LastSender.Tell(message, TestActor);

    /// <summary>Tells <paramref name="message"/> (default: <see cref="LastMessage"/>) to <paramref name="actor"/> keeping <see cref="LastSender"/> as sender.</summary>
    public void Forward(IActorRef actor, object? message = null)
    {
        ArgumentNullException.ThrowIfNull(actor);
        actor.Tell(message ?? LastMessage ?? throw new InvalidOperationException("No message has been received to forward."), LastSender);
    }

    /// <summary>Receives the next message, which must be a <typeparamref name="T"/> satisfying <paramref name="isMessage"/> (if given).</summary>
    public async Task<T> ExpectMsgAsync<T>(Predicate<T>? isMessage = null, TimeSpan? timeout = null, string? hint = null, CancellationToken cancellationToken = default)
    {
        var max = timeout ?? RemainingOrDefault;
        var envelope = await ReceiveEnvelopeAsync(max, cancellationToken).ConfigureAwait(false)
            ?? throw Fail($"Timeout ({max}) while waiting for a message of type {typeof(T).Name}{Hint(hint)}");
        if (envelope.Message is not T typed)
        {
            throw Fail($"Expected a message of type {typeof(T).Name}{Hint(hint)}, but received {Describe(envelope.Message)} from {envelope.Sender}");
        }

        if (isMessage is not null && !isMessage(typed))
        {
            throw Fail($"The message {Describe(typed)} from {envelope.Sender} did not match the predicate{Hint(hint)}");
        }

        return typed;
    }

    /// <summary>Receives the next message, which must equal <paramref name="message"/>.</summary>
    public async Task<T> ExpectMsgAsync<T>(T message, TimeSpan? timeout = null, string? hint = null, CancellationToken cancellationToken = default)
    {
        var max = timeout ?? RemainingOrDefault;
        var envelope = await ReceiveEnvelopeAsync(max, cancellationToken).ConfigureAwait(false)
            ?? throw Fail($"Timeout ({max}) while waiting for {Describe(message)}{Hint(hint)}");
        if (envelope.Message is not T typed || !EqualityComparer<T>.Default.Equals(typed, message))
        {
            throw Fail($"Expected {Describe(message)}{Hint(hint)}, but received {Describe(envelope.Message)} from {envelope.Sender}");
        }

        return typed;
    }

    /// <summary>Asserts that no message arrives within <paramref name="duration"/> (default: <c>RemainingOrDefault</c>, capped at 3 s dilated).</summary>
    public async Task ExpectNoMsgAsync(TimeSpan? duration = null, CancellationToken cancellationToken = default)
    {
        var max = duration ?? Min(RemainingOrDefault, DefaultTimeout);
        var envelope = await ReceiveEnvelopeAsync(max, cancellationToken).ConfigureAwait(false);
        if (envelope is not null)
        {
            throw Fail($"Expected no message for {max}, but received {Describe(envelope.Message)} from {envelope.Sender}");
        }
    }

    /// <summary>Receives the next message, which must be the <see cref="Terminated"/> of <paramref name="target"/> (watch it first).</summary>
    public Task<Terminated> ExpectTerminatedAsync(IActorRef target, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        return ExpectMsgAsync<Terminated>(t => t.ActorRef.Equals(target), timeout, $"Terminated of {target}", cancellationToken);
    }

    /// <summary>Receives and discards messages until one satisfies <paramref name="isMessage"/>, which it returns.</summary>
    public async Task<object> FishForMessageAsync(Predicate<object> isMessage, TimeSpan? max = null, string? hint = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(isMessage);
        var limit = max ?? RemainingOrDefault;
        var end = Stopwatch.GetTimestamp() + (long)(limit.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            var left = Max(Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), end), TimeSpan.Zero);
            var envelope = await ReceiveEnvelopeAsync(left, cancellationToken).ConfigureAwait(false)
                ?? throw Fail($"Timeout ({limit}) while fishing for a message{Hint(hint)}");
            if (isMessage(envelope.Message))
            {
                return envelope.Message;
            }
        }
    }

    /// <summary>As <see cref="FishForMessageAsync(Predicate{object}, TimeSpan?, string?, CancellationToken)"/>, for a <typeparamref name="T"/>.</summary>
    public async Task<T> FishForMessageAsync<T>(Predicate<T>? isMessage = null, TimeSpan? max = null, string? hint = null, CancellationToken cancellationToken = default) =>
        (T)await FishForMessageAsync(m => m is T typed && (isMessage is null || isMessage(typed)), max, hint, cancellationToken).ConfigureAwait(false);

    /// <summary>Receives the next message, whatever it is; <see langword="null"/> on timeout.</summary>
    public async Task<object?> ReceiveOneAsync(TimeSpan? max = null, CancellationToken cancellationToken = default) =>
        (await ReceiveEnvelopeAsync(max ?? RemainingOrDefault, cancellationToken).ConfigureAwait(false))?.Message;

    /// <summary>Receives exactly <paramref name="count"/> messages within <paramref name="max"/> (total).</summary>
    public async Task<IReadOnlyList<object>> ReceiveNAsync(int count, TimeSpan? max = null, CancellationToken cancellationToken = default)
    {
        var limit = max ?? RemainingOrDefault;
        var end = Stopwatch.GetTimestamp() + (long)(limit.TotalSeconds * Stopwatch.Frequency);
        var messages = new List<object>(count);
        while (messages.Count < count)
        {
            var left = Max(Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), end), TimeSpan.Zero);
            var envelope = await ReceiveEnvelopeAsync(left, cancellationToken).ConfigureAwait(false)
                ?? throw Fail($"Timeout ({limit}) after {messages.Count} of {count} messages");
            messages.Add(envelope.Message);
        }

        return messages;
    }

    /// <summary>Receives <paramref name="expected"/>.Count messages that equal the expected ones in any order.</summary>
    public async Task<IReadOnlyList<T>> ExpectMsgAllOfAsync<T>(IReadOnlyCollection<T> expected, TimeSpan? max = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(expected);
        var received = await ReceiveNAsync(expected.Count, max, cancellationToken).ConfigureAwait(false);
        var missing = expected.ToList();
        var typed = new List<T>();
        foreach (var message in received)
        {
            if (message is not T item || !missing.Remove(item))
            {
                throw Fail($"Unexpected {Describe(message)} while expecting all of [{string.Join(", ", expected.Select(e => Describe(e)))}]");
            }

            typed.Add(item);
        }

        return typed;
    }

    /// <summary>Runs <paramref name="function"/>, which must finish within <paramref name="max"/> (dilated); expectations inside default to the time left.</summary>
    public Task WithinAsync(TimeSpan max, Func<Task> function) => WithinAsync(TimeSpan.Zero, max, function);

    /// <summary>Runs <paramref name="function"/>, which must take at least <paramref name="min"/> and at most <paramref name="max"/> (dilated).</summary>
    public async Task WithinAsync(TimeSpan min, TimeSpan max, Func<Task> function)
    {
        ArgumentNullException.ThrowIfNull(function);
        var dilatedMax = Dilated(max);
        var start = Stopwatch.GetTimestamp();
        var previous = _withinEnd;
        var end = start + (long)(dilatedMax.TotalSeconds * Stopwatch.Frequency);
        _withinEnd = previous is { } outer ? Math.Min(outer, end) : end;
        try
        {
            await function().ConfigureAwait(false);
        }
        finally
        {
            _withinEnd = previous;
        }

        var elapsed = Stopwatch.GetElapsedTime(start);
        if (elapsed < min)
        {
            throw Fail($"The block took {elapsed}, less than the minimum {min}");
        }

        if (elapsed > dilatedMax)
        {
            throw Fail($"The block took {elapsed}, more than the maximum {dilatedMax}");
        }
    }

    /// <summary>Retries <paramref name="assertion"/> every <paramref name="interval"/> (default 100 ms) until it stops throwing, or rethrows its last failure after <paramref name="duration"/>.</summary>
    public Task AwaitAssertAsync(Action assertion, TimeSpan? duration = null, TimeSpan? interval = null)
    {
        ArgumentNullException.ThrowIfNull(assertion);
        return AwaitAssertAsync(() =>
        {
            assertion();
            return Task.CompletedTask;
        }, duration, interval);
    }

    /// <summary>As <see cref="AwaitAssertAsync(Action, TimeSpan?, TimeSpan?)"/>, for an async assertion.</summary>
    public async Task AwaitAssertAsync(Func<Task> assertion, TimeSpan? duration = null, TimeSpan? interval = null)
    {
        ArgumentNullException.ThrowIfNull(assertion);
        var limit = duration ?? RemainingOrDefault;
        var pause = interval ?? TimeSpan.FromMilliseconds(100);
        var start = Stopwatch.GetTimestamp();
        while (true)
        {
            try
            {
                await assertion().ConfigureAwait(false);
                return;
            }
            catch (Exception) when (Stopwatch.GetElapsedTime(start) < limit)
            {
                await Task.Delay(Min(pause, Max(limit - Stopwatch.GetElapsedTime(start), TimeSpan.FromMilliseconds(1)))).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Polls <paramref name="condition"/> every <paramref name="interval"/> (default 100 ms) until it is true; fails after <paramref name="max"/>.</summary>
    public async Task AwaitConditionAsync(Func<bool> condition, TimeSpan? max = null, TimeSpan? interval = null, string? message = null)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var limit = max ?? RemainingOrDefault;
        var pause = interval ?? TimeSpan.FromMilliseconds(100);
        var start = Stopwatch.GetTimestamp();
        while (!condition())
        {
            if (Stopwatch.GetElapsedTime(start) >= limit)
            {
                throw Fail($"Timeout ({limit}) waiting for a condition{Hint(message)}");
            }

            await Task.Delay(Min(pause, limit)).ConfigureAwait(false);
        }
    }

    /// <summary>True when a message is waiting in the queue.</summary>
    public bool HasMessages => _peeked is not null || _queue.Reader.TryPeek(out _);

    private async Task<Envelope?> ReceiveEnvelopeAsync(TimeSpan max, CancellationToken cancellationToken)
    {
        if (_peeked is { } peeked)
        {
            _peeked = null;
            return Record(peeked);
        }

        if (_queue.Reader.TryRead(out var ready))
        {
            return Record(ready);
        }

        if (max <= TimeSpan.Zero)
        {
            return null;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(max);
        try
        {
            return Record(await _queue.Reader.ReadAsync(timeout.Token).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    private Envelope Record(Envelope envelope)
    {
        LastMessage = envelope.Message;
        LastSender = envelope.Sender;
        return envelope;
    }

    private static double ReadTimeFactor()
    {
        var text = Environment.GetEnvironmentVariable(TimeFactorVariable);
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var factor) && factor > 0 ? factor : 1.0;
    }

    private static XunitException Fail(string message) => new(message);

    private static string Hint(string? hint) => string.IsNullOrEmpty(hint) ? string.Empty : $" ({hint})";

    private static string Describe(object? message) => message is null ? "null" : $"{message.GetType().Name} [{message}]";

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private sealed record Envelope(object Message, IActorRef Sender);

    private sealed record WatchCommand(IActorRef Subject, bool Watch);

    /// <summary>Queues every message it receives, including <see cref="Terminated"/> of what it watches.</summary>
    private sealed class QueueingActor(ChannelWriter<Envelope> writer) : ActorBase
    {
        protected override bool Receive(object message)
        {
            if (message is WatchCommand command)
            {
                if (command.Watch)
                {
                    Context.Watch(command.Subject);
                }
                else
                {
                    Context.Unwatch(command.Subject);
                }

                return true;
            }

            writer.TryWrite(new Envelope(message, Sender));
            return true;
        }
    }
}
