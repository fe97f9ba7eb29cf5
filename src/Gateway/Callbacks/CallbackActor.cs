using System.Diagnostics;
using System.Threading.Channels;
using Akka.Actor;
using Akka.Streams;
using Akka.Streams.Dsl;
using Gateway.Connections;
using Gateway.Hosting;
using static Gateway.Callbacks.CallbackProtocol;

namespace Gateway.Callbacks;

/// <summary>Timing of callback delivery.</summary>
/// <param name="AttemptTimeout">Timeout of one attempt.</param>
/// <param name="RetryBaseDelay">First retry delay; doubles per attempt, with ±20 % jitter.</param>
/// <param name="RetryMaxDelay">Longest retry delay.</param>
/// <param name="MaxConcurrency">Requests in flight at once, across connections.</param>
public sealed record CallbackSettings(TimeSpan AttemptTimeout, TimeSpan RetryBaseDelay, TimeSpan RetryMaxDelay, int MaxConcurrency);

/// <summary>
/// Streams connection events to the app. Each connection's events go out strictly in order (open,
/// messages, close), one request at a time; different connections go in parallel up to
/// <see cref="CallbackSettings.MaxConcurrency"/>. Transport errors, timeouts and 5xx are retried with
/// capped exponential backoff for as long as the app is unreachable; a 4xx is the app's answer and
/// is not retried. Nothing is dropped while the app is slow or down: the connections' read loops
/// stop reading instead (their inbound flow is released only here).
/// </summary>
/// <remarks>
/// The actor keeps each connection's queue and decides what is ready: the head event of a connection
/// with nothing in flight and no retry pending. Ready attempts go, first come first served, into one
/// process-wide Akka.Streams graph (a channel source, <c>SelectAsyncUnordered</c> with the configured
/// parallelism, results told back here), materialized once in <see cref="PreStart"/>: the stream owns
/// the concurrency bound and its backpressure, the actor owns order, retries and walker deadlines.
/// </remarks>
public sealed partial class CallbackActor : ReceiveActor, IWithTimers
{
    private readonly IAppCallbackClient _client;
    private readonly CallbackSettings _settings;
    private readonly ILogger _log;
    private readonly GatewayMetrics? _metrics;
    private readonly GatewayTracing? _tracing;
    private readonly Dictionary<ConnectionId, EventStream> _streams = [];
    private readonly List<IActorRef> _drainWaiters = [];
    private Channel<Delivery>? _deliveries;
    private int _inFlight;
    private int _pending;

    /// <param name="client">Posts one callback body to the app.</param>
    /// <param name="settings">Timeouts, retry backoff and parallelism.</param>
    /// <param name="log">Where retries and refusals are logged.</param>
    /// <param name="metrics">Counts the backlog and retries (<c>gateway.callback.*</c>); none when null.</param>
    /// <param name="tracing">Starts a span per delivery, with an event per attempt; none when null.</param>
    internal CallbackActor(IAppCallbackClient client, CallbackSettings settings, ILogger<CallbackActor> log, GatewayMetrics? metrics = null, GatewayTracing? tracing = null)
    {
        _client = client;
        _settings = settings;
        _log = log;
        _metrics = metrics;
        _tracing = tracing;

        Receive<CallbackEvent>(HandleEvent);
        Receive<Attempted>(HandleAttempted);
        Receive<RetryDue>(due => HandleRetryDue(due.Stream));
        Receive<WalkerDue>(HandleWalkerDue);
        Receive<AwaitDrained>(_ => HandleAwaitDrained());
        Receive<GetStats>(_ => Sender.Tell(new CallbackStats(_pending, _streams.Count, Volatile.Read(ref _inFlight))));
        Receive<DeliveryStreamEnded>(_ => { });

        // Attempts never fault (they catch everything), so this is a bug: fail, and let the supervisor restart us.
        Receive<DeliveryStreamFailed>(failed => throw new InvalidOperationException("The callback delivery stream failed.", failed.Cause));
    }

    /// <summary>Retry and walker-deadline timers, keyed by their stream and event; cancelled when the actor stops.</summary>
    public ITimerScheduler Timers { get; set; } = null!;

    internal static Props Props(IAppCallbackClient client, CallbackSettings settings, ILogger<CallbackActor> log, GatewayMetrics? metrics = null, GatewayTracing? tracing = null) =>
        ActorFactory<CallbackActor>.Props(() => new CallbackActor(client, settings, log, metrics, tracing));

    protected override void PreStart()
    {
        if (_client.Target is null)
        {
            Log.CallbacksDisabled(_log);
            return;
        }

        // One graph for the whole process, stopped with this actor (Context.Materializer). Each connection
        // has at most one attempt in the channel or in flight, so the channel holds at most one entry per
        // connection with events waiting.
        _deliveries = Channel.CreateUnbounded<Delivery>(new UnboundedChannelOptions { SingleWriter = true, SingleReader = true });
        var self = Self;
        ChannelSource.FromReader(_deliveries.Reader)
            .SelectAsyncUnordered(Math.Max(1, _settings.MaxConcurrency), AttemptAsync)
            .RunWith(Sink.ForEach<Attempted>(attempted => self.Tell(attempted, ActorRefs.NoSender)), Context.Materializer())
            .PipeTo(Self, success: _ => DeliveryStreamEnded.Instance, failure: exception => new DeliveryStreamFailed(exception));
    }

    protected override void PostStop() => _deliveries?.Writer.TryComplete();

    private void HandleEvent(CallbackEvent callbackEvent)
    {
        if (_client.Target is null)
        {
            // Callbacks are off: the event is done with at once.
            Complete(callbackEvent, new CallbackResult(CallbackOutcome.Rejected, 0, "no app callback is configured"));
            return;
        }

        var id = callbackEvent.Identity.Id;
        if (!_streams.TryGetValue(id, out var stream))
        {
            stream = new EventStream(id);
            _streams.Add(id, stream);
        }

        var pending = new PendingEvent(callbackEvent, Stopwatch.GetTimestamp());
        stream.Events.Enqueue(pending);
        Backlog(1);
        if (callbackEvent is WalkerReceived { ReplyTo: not null } walker)
        {
            // The client's wait is bounded from now, including any time behind the connection's earlier events.
            Timers.StartSingleTimer(pending, new WalkerDue(stream, pending), walker.Timeout);
        }

        Pump(stream);
    }

    private void HandleWalkerDue(WalkerDue due)
    {
        var pending = due.Event;
        if (pending.Completed || due.Stream.Dispatched == pending)
        {
            // Delivered already, or handed to the delivery stream: its attempt gets only the time that was left.
            return;
        }

        // Still queued behind earlier events: the client gets its error now; the app never gets this walker.
        pending.Completed = true;
        Complete(pending.Event, new CallbackResult(CallbackOutcome.Transient, 0, TimedOutWaiting((WalkerReceived)pending.Event)));
    }

    /// <summary>Hands the stream's head event to the delivery graph, unless it has one there already or is waiting to retry.</summary>
    private void Pump(EventStream stream)
    {
        if (stream.Dispatched is not null || stream.RetryScheduled)
        {
            return;
        }

        // A walker that expired while queued has had its answer; skip it.
        while (stream.Events.TryPeek(out var head) && head.Completed)
        {
            stream.Events.Dequeue();
            Backlog(-1);
        }

        if (stream.Events.Count == 0)
        {
            _streams.Remove(stream.Id);
            NotifyIfDrained();
            return;
        }

        var pending = stream.Events.Peek();
        var callbackEvent = pending.Event;
        try
        {
            pending.Body ??= CallbackBody.Write(callbackEvent);
        }
        catch (Exception exception)
        {
            // One event that cannot be encoded must not stall its connection or fail this actor,
            // whose state is every other connection's queue.
            Log.Unencodable(_log, exception, stream.Id.Value, Action(callbackEvent));
            stream.Events.Dequeue();
            Backlog(-1);
            Complete(callbackEvent, new CallbackResult(CallbackOutcome.Rejected, 0, "the event could not be encoded"));
            Pump(stream);
            return;
        }

        pending.Trace ??= _tracing?.StartCallback(Action(callbackEvent), stream.Id.Value);
        var walker = callbackEvent as WalkerReceived;
        var deadline = walker?.ReplyTo is not null ? pending.QueuedAt + (long)(walker.Timeout.TotalSeconds * Stopwatch.Frequency) : (long?)null;
        stream.Dispatched = pending;
        _deliveries!.Writer.TryWrite(new Delivery(stream, pending, pending.Body, callbackEvent.Identity.Cookie, deadline));
    }

    /// <summary>One attempt, run by the delivery graph (not on this actor's turn: it touches no actor state).</summary>
    private async Task<Attempted> AttemptAsync(Delivery delivery)
    {
        var timeout = _settings.AttemptTimeout;
        if (delivery.Deadline is { } deadline)
        {
            timeout = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
            if (timeout <= TimeSpan.Zero)
            {
                // Its time ran out while it waited for a slot: the app never gets it.
                return new Attempted(delivery.Stream, delivery.Event, new CallbackResult(CallbackOutcome.Transient, 0, TimedOutWaiting((WalkerReceived)delivery.Event.Event)));
            }
        }

        Interlocked.Increment(ref _inFlight);
        try
        {
            // The client sends the delivery span's traceparent; this flows only into the attempt.
            Activity.Current = delivery.Event.Trace;
            var result = await _client.PostAsync(delivery.Body, delivery.Cookie, readBody: delivery.Deadline is not null, timeout, CancellationToken.None).ConfigureAwait(false);
            return new Attempted(delivery.Stream, delivery.Event, result);
        }
        catch (Exception exception)
        {
            return new Attempted(delivery.Stream, delivery.Event, new CallbackResult(CallbackOutcome.Transient, 0, exception.Message));
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    private void HandleAttempted(Attempted attempted)
    {
        var stream = attempted.Stream;
        var pending = attempted.Event;
        var result = attempted.Result;
        stream.Dispatched = null;

        var isReplyingWalker = pending.Event is WalkerReceived { ReplyTo: not null };
        var retrying = result.Outcome == CallbackOutcome.Transient && !isReplyingWalker;
        TraceAttempt(pending, result, stream.Attempts + 1, retrying);
        if (retrying)
        {
            _metrics?.CallbackRetry();
            stream.Attempts++;
            if (stream.Attempts == 1 || stream.Attempts % 10 == 0)
            {
                Log.Retrying(_log, stream.Id.Value, Action(pending.Event), stream.Attempts, result.Reason);
            }

            stream.RetryScheduled = true;
            Timers.StartSingleTimer(stream, new RetryDue(stream), Backoff(stream.Attempts));
        }
        else
        {
            if (result.Outcome == CallbackOutcome.Rejected)
            {
                Log.Rejected(_log, stream.Id.Value, Action(pending.Event), result.Reason);
            }

            stream.Attempts = 0;
            stream.Events.Dequeue();
            Backlog(-1);
            pending.Completed = true;
            if (isReplyingWalker)
            {
                Timers.Cancel(pending);
            }

            Complete(pending.Event, result);

            // The next event, or (Pump's part too) forgetting a drained stream: it is recreated if another event comes.
            Pump(stream);
        }

        NotifyIfDrained();
    }

    private void Backlog(int delta)
    {
        _pending += delta;
        _metrics?.CallbacksPending(delta);
    }

    /// <summary>Adds the attempt to the delivery span, and ends the span once the event is done with.</summary>
    private static void TraceAttempt(PendingEvent pending, CallbackResult result, int attempt, bool retrying)
    {
        if (pending.Trace is not { } trace)
        {
            return;
        }

        trace.AddEvent(new ActivityEvent("gateway.callback.attempt", tags: new ActivityTagsCollection
        {
            ["gateway.callback.attempt"] = attempt,
            ["gateway.callback.outcome"] = result.Outcome.ToString(),
            ["http.response.status_code"] = result.Status,
            ["gateway.callback.reason"] = result.Reason,
        }));
        if (retrying)
        {
            return;
        }

        trace.SetTag("gateway.callback.attempts", attempt);
        trace.SetTag("gateway.callback.outcome", result.Outcome.ToString());
        if (result.Status > 0)
        {
            trace.SetTag("http.response.status_code", result.Status);
        }

        trace.SetStatus(result.Outcome == CallbackOutcome.Delivered ? ActivityStatusCode.Ok : ActivityStatusCode.Error, result.Outcome == CallbackOutcome.Delivered ? null : result.Reason);
        trace.Stop();
        pending.Trace = null;
    }

    private void HandleRetryDue(EventStream stream)
    {
        stream.RetryScheduled = false;
        Pump(stream);
    }

    private static void Complete(CallbackEvent callbackEvent, CallbackResult result)
    {
        switch (callbackEvent)
        {
            case MessageReceived received:
                received.Flow.Release(received.Message.Frame.Length);
                break;
            case WalkerReceived walker:
                walker.Flow.Release(walker.Message.Frame.Length);
                if (walker.ReplyTo is { } replyTo)
                {
                    replyTo.Tell(
                        result.Outcome == CallbackOutcome.Delivered
                            ? new WalkerReplied(result.Body ?? [])
                            : new WalkerFailed(result.Reason));
                }

                break;
        }
    }

    private void HandleAwaitDrained()
    {
        if (_pending == 0)
        {
            Sender.Tell(Drained.Instance);
        }
        else
        {
            _drainWaiters.Add(Sender);
        }
    }

    private void NotifyIfDrained()
    {
        if (_pending == 0 && _drainWaiters.Count > 0)
        {
            foreach (var waiter in _drainWaiters)
            {
                waiter.Tell(Drained.Instance);
            }

            _drainWaiters.Clear();
        }
    }

    private TimeSpan Backoff(int attempts)
    {
        var exponent = Math.Min(attempts - 1, 20);
        var delay = Math.Min(_settings.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, exponent), _settings.RetryMaxDelay.TotalMilliseconds);
        var jitter = 0.8 + (Random.Shared.NextDouble() * 0.4);
        return TimeSpan.FromMilliseconds(delay * jitter);
    }

    private static string TimedOutWaiting(WalkerReceived walker) =>
        $"timed out after {walker.Timeout.TotalMilliseconds:0} ms waiting for the app";

    private static string Action(CallbackEvent callbackEvent) => callbackEvent switch
    {
        ConnectionOpened => "open",
        ConnectionClosed => "close",
        _ => "message",
    };

    /// <summary>One connection's queue of events; at most one of them dispatched (in the delivery graph) at a time.</summary>
    private sealed class EventStream(ConnectionId id)
    {
        public ConnectionId Id { get; } = id;

        public Queue<PendingEvent> Events { get; } = new();

        public bool RetryScheduled { get; set; }

        public int Attempts { get; set; }

        /// <summary>The event waiting for a slot in, or in flight through, the delivery graph.</summary>
        public PendingEvent? Dispatched { get; set; }
    }

    private sealed class PendingEvent(CallbackEvent callbackEvent, long queuedAt)
    {
        public CallbackEvent Event { get; } = callbackEvent;

        public long QueuedAt { get; } = queuedAt;

        public byte[]? Body { get; set; }

        /// <summary>The delivery span, from the first attempt until the event is done with; null when not traced.</summary>
        public Activity? Trace { get; set; }

        /// <summary>True once its outcome is known (delivered, refused, or a walker that expired while queued).</summary>
        public bool Completed { get; set; }
    }

    /// <summary>An attempt handed to the delivery graph; <paramref name="Deadline"/> (a <see cref="Stopwatch"/> timestamp) only for a walker awaiting its reply.</summary>
    private sealed record Delivery(EventStream Stream, PendingEvent Event, byte[] Body, string Cookie, long? Deadline);

    /// <summary>The delivery graph completed: this actor is stopping.</summary>
    private sealed class DeliveryStreamEnded
    {
        public static readonly DeliveryStreamEnded Instance = new();
    }

    private sealed record DeliveryStreamFailed(Exception Cause);

    private sealed record Attempted(EventStream Stream, PendingEvent Event, CallbackResult Result);

    private sealed record RetryDue(EventStream Stream);

    private sealed record WalkerDue(EventStream Stream, PendingEvent Event);

    private static partial class Log
    {
        [LoggerMessage(EventId = 500, Level = LogLevel.Warning, Message = "No app callback is configured (set WS_PORT and WS_URL, or Gateway:Callback:Url): connection events are not sent anywhere")]
        public static partial void CallbacksDisabled(ILogger logger);

        [LoggerMessage(EventId = 501, Level = LogLevel.Warning, Message = "Callback {Action} for connection {ConnectionId} failed (attempt {Attempt}): {Reason}; retrying")]
        public static partial void Retrying(ILogger logger, string connectionId, string action, int attempt, string reason);

        [LoggerMessage(EventId = 503, Level = LogLevel.Error, Message = "Callback {Action} for connection {ConnectionId} could not be encoded; skipped")]
        public static partial void Unencodable(ILogger logger, Exception exception, string connectionId, string action);

        [LoggerMessage(EventId = 502, Level = LogLevel.Warning, Message = "Callback {Action} for connection {ConnectionId} refused by the app: {Reason}; not retried")]
        public static partial void Rejected(ILogger logger, string connectionId, string action, string reason);
    }
}
