using System.Diagnostics;
using Gateway.Actor;
using Gateway.Connections;
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
public sealed partial class CallbackActor : ReceiveActor
{
    private readonly IAppCallbackClient _client;
    private readonly CallbackSettings _settings;
    private readonly ILogger _log;
    private readonly Dictionary<ConnectionId, EventStream> _streams = [];
    private readonly Queue<EventStream> _waitingForSlot = new();
    private readonly List<IActorRef> _drainWaiters = [];
    private int _inFlight;
    private int _pending;

    internal CallbackActor(IAppCallbackClient client, CallbackSettings settings)
    {
        _client = client;
        _settings = settings;
        _log = Context.GetLogger();

        Receive<CallbackEvent>(HandleEvent);
        Receive<Attempted>(HandleAttempted);
        Receive<RetryDue>(due => HandleRetryDue(due.Stream));
        Receive<WalkerDue>(HandleWalkerDue);
        Receive<AwaitDrained>(_ => HandleAwaitDrained());
        Receive<GetStats>(_ => Sender.Tell(new CallbackStats(_pending, _streams.Count, _inFlight)));
    }

    internal static Props Props(IAppCallbackClient client, CallbackSettings settings) =>
        Actor.Props.Create(() => new CallbackActor(client, settings));

    protected override void PreStart()
    {
        if (_client.Target is null)
        {
            Log.CallbacksDisabled(_log);
        }
    }

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
        _pending++;
        if (callbackEvent is WalkerReceived { ReplyTo: not null } walker)
        {
            // The client's wait is bounded from now, including any time behind the connection's earlier events.
            Context.System.Scheduler.ScheduleTellOnce(walker.Timeout, Self, new WalkerDue(stream, pending), Self);
        }

        Pump(stream);
    }

    private void HandleWalkerDue(WalkerDue due)
    {
        var pending = due.Event;
        if (pending.Completed || due.Stream.InFlightEvent == pending)
        {
            // Delivered already, or in flight: its own attempt times out with the time that was left.
            return;
        }

        // Still queued behind earlier events: the client gets its error now; the app never gets this walker.
        pending.Completed = true;
        Complete(pending.Event, new CallbackResult(CallbackOutcome.Transient, 0, $"timed out after {((WalkerReceived)pending.Event).Timeout.TotalMilliseconds:0} ms waiting for the app"));
    }

    private void Pump(EventStream stream)
    {
        if (stream.InFlight || stream.RetryScheduled || stream.WaitingForSlot || stream.Events.Count == 0)
        {
            return;
        }

        // First come, first served: a connection never takes a slot ahead of those already waiting
        // (a busy connection that just finished an event queues behind them).
        if (_inFlight >= _settings.MaxConcurrency || _waitingForSlot.Count > 0)
        {
            stream.WaitingForSlot = true;
            _waitingForSlot.Enqueue(stream);
            return;
        }

        Start(stream);
    }

    private void Start(EventStream stream)
    {
        // A walker that expired while queued has had its answer; skip it.
        while (stream.Events.TryPeek(out var head) && head.Completed)
        {
            stream.Events.Dequeue();
            _pending--;
        }

        if (stream.Events.Count == 0)
        {
            _streams.Remove(stream.Id);
            NotifyIfDrained();
            return;
        }

        var pending = stream.Events.Peek();
        var callbackEvent = pending.Event;
        var walker = callbackEvent as WalkerReceived;
        var timeout = walker?.ReplyTo is not null
            ? walker.Timeout - Stopwatch.GetElapsedTime(pending.QueuedAt)
            : _settings.AttemptTimeout;
        if (timeout <= TimeSpan.Zero)
        {
            timeout = TimeSpan.FromMilliseconds(1);
        }
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
            _pending--;
            Complete(callbackEvent, new CallbackResult(CallbackOutcome.Rejected, 0, "the event could not be encoded"));
            if (stream.Events.Count == 0)
            {
                _streams.Remove(stream.Id);
            }
            else
            {
                Pump(stream);
            }

            NotifyIfDrained();
            return;
        }

        stream.InFlight = true;
        stream.InFlightEvent = pending;
        _inFlight++;
        _client.PostAsync(pending.Body, callbackEvent.Identity.Cookie, readBody: walker?.ReplyTo is not null, timeout, CancellationToken.None)
            .PipeTo(Self, Self, result => new Attempted(stream, pending, result), failure => new Attempted(stream, pending, new CallbackResult(CallbackOutcome.Transient, 0, failure.Message)));
    }

    private void HandleAttempted(Attempted attempted)
    {
        var stream = attempted.Stream;
        var pending = attempted.Event;
        var result = attempted.Result;
        stream.InFlight = false;
        stream.InFlightEvent = null;
        _inFlight--;

        var isReplyingWalker = pending.Event is WalkerReceived { ReplyTo: not null };
        if (result.Outcome == CallbackOutcome.Transient && !isReplyingWalker)
        {
            stream.Attempts++;
            if (stream.Attempts == 1 || stream.Attempts % 10 == 0)
            {
                Log.Retrying(_log, stream.Id.Value, Action(pending.Event), stream.Attempts, result.Reason);
            }

            stream.RetryScheduled = true;
            Context.System.Scheduler.ScheduleTellOnce(Backoff(stream.Attempts), Self, new RetryDue(stream), Self);
        }
        else
        {
            if (result.Outcome == CallbackOutcome.Rejected)
            {
                Log.Rejected(_log, stream.Id.Value, Action(pending.Event), result.Reason);
            }

            stream.Attempts = 0;
            stream.Events.Dequeue();
            _pending--;
            pending.Completed = true;
            Complete(pending.Event, result);
            if (stream.Events.Count == 0)
            {
                // The stream is recreated if another event comes; a close is always the last.
                _streams.Remove(stream.Id);
            }
            else
            {
                Pump(stream);
            }
        }

        ReleaseSlot();
        NotifyIfDrained();
    }

    private void HandleRetryDue(EventStream stream)
    {
        stream.RetryScheduled = false;
        Pump(stream);
    }

    private void ReleaseSlot()
    {
        while (_inFlight < _settings.MaxConcurrency && _waitingForSlot.TryDequeue(out var waiting))
        {
            waiting.WaitingForSlot = false;
            if (!waiting.InFlight && !waiting.RetryScheduled && waiting.Events.Count > 0)
            {
                Start(waiting);
            }
        }
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

    private static string Action(CallbackEvent callbackEvent) => callbackEvent switch
    {
        ConnectionOpened => "open",
        ConnectionClosed => "close",
        _ => "message",
    };

    /// <summary>One connection's queue of events; at most one of them in flight.</summary>
    private sealed class EventStream(ConnectionId id)
    {
        public ConnectionId Id { get; } = id;

        public Queue<PendingEvent> Events { get; } = new();

        public bool InFlight { get; set; }

        public bool RetryScheduled { get; set; }

        public bool WaitingForSlot { get; set; }

        public int Attempts { get; set; }

        public PendingEvent? InFlightEvent { get; set; }
    }

    private sealed class PendingEvent(CallbackEvent callbackEvent, long queuedAt)
    {
        public CallbackEvent Event { get; } = callbackEvent;

        public long QueuedAt { get; } = queuedAt;

        public byte[]? Body { get; set; }

        /// <summary>True once its outcome is known (delivered, refused, or a walker that expired while queued).</summary>
        public bool Completed { get; set; }
    }

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
