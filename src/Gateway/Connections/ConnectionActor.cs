using System.Diagnostics;
using Akka.Actor;
using Gateway.Callbacks;
using Gateway.WebSockets;
using static Gateway.Connections.ConnectionProtocol;

namespace Gateway.Connections;

/// <summary>What a connection actor needs besides its identity and socket.</summary>
/// <param name="PingTimeout">Close with 4000 after this long without liveness; <see langword="null"/> for no deadline (jac).</param>
/// <param name="AnyFrameIsLiveness">Whether data frames and protocol pings/pongs also refresh the deadline.</param>
public sealed record ConnectionSettings(TimeSpan? PingTimeout, bool AnyFrameIsLiveness)
{
    /// <summary>Where connection actors log (one logger shared by every connection of the process).</summary>
    public ILogger Logger { get; init; } = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    /// <summary>How long the app may take to answer a frame forwarded with a reply (jac walker), in one attempt.</summary>
    public TimeSpan ReplyTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Where direct messages and identity changes go; set by the user actor.</summary>
    public IActorRef? Registry { get; init; }

    /// <summary>
    /// Protocol-level keep-alive (RFC 6455 §5.5.2): a ping is sent this long after the previous one was sent and
    /// answered; <see langword="null"/> for none. Timed on the actor system's scheduler, one entry per connection.
    /// </summary>
    public TimeSpan? KeepAliveInterval { get; init; }

    /// <summary>How long a keep-alive ping may wait for a pong (or any protocol ping) before the socket is closed with 4000.</summary>
    public TimeSpan KeepAliveTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// How long a connection that closed its socket (ping deadline, keep-alive, <see cref="ConnectionProtocol.Close"/>)
    /// waits for the socket to report its end before it stops anyway. The socket reports within its close deadline
    /// (<see cref="WebSockets.WebSocketConnection.CloseDeadline"/>: at most 1.2 times
    /// <c>Gateway:Limits:CloseHandshakeTimeout</c>), so this is that plus a margin.
    /// </summary>
    public TimeSpan SocketEndTimeout { get; init; } = TimeSpan.FromSeconds(7);

    /// <summary>A configured interval as a keep-alive setting: zero or negative turns it off.</summary>
    public static TimeSpan? KeepAlive(TimeSpan interval) => interval > TimeSpan.Zero ? interval : null;
}

/// <summary>
/// One client socket: its identity, its ping deadline, the only writer of its frames besides
/// fan-out, and its close. Stopped, never restarted, when anything goes wrong (a socket cannot be
/// reopened); every stop sends the app exactly one <c>close</c>.
/// </summary>
/// <remarks>
/// The actor stops when its socket reports the end (<see cref="ConnectionProtocol.SocketClosed"/>), which the
/// read loop sends after the last frame it read: so every message read before a close reaches the app before
/// its <c>close</c>, and a ping read before the client's close frame is answered before the gateway's close
/// frame (the socket sends that frame only when this actor closes it). When the actor decides the close itself
/// it closes the socket and waits for that report, at most <see cref="ConnectionSettings.SocketEndTimeout"/>.
/// <para>Written as a single <see cref="Receive"/> switch rather than <c>Receive&lt;T&gt;</c> registrations: there is
/// one of these per socket, and per-instance handler delegates would cost more than the actor itself.</para>
/// </remarks>
public sealed partial class ConnectionActor : ActorBase
{
    private static readonly OutboundMessage Pong = OutboundMessage.Text("{\"event\":\"pong\"}");
    private static readonly OutboundMessage ProtocolPing = new(Opcode.Ping, ReadOnlyMemory<byte>.Empty);

    private readonly IOutbox _outbox;
    private readonly InboundFlow _flow;
    private readonly IActorRef _callbacks;
    private readonly ConnectionSettings _settings;
    private readonly ILogger _log;
    private Queue<Func<string, OutboundMessage>>? _pendingReplies;
    private ConnectionIdentity _identity;
    private long _lastLiveness = Stopwatch.GetTimestamp();
    private ICancelable? _deadline;
    private ICancelable? _keepAlive;
    private long _keepAlivePingSent = Stopwatch.GetTimestamp();
    private bool _awaitingPong;
    private ICancelable? _socketEndTimeout;
    private int _closeCode = CloseCodes.InternalError;
    private string _closeReason = "internal error";

    internal ConnectionActor(ConnectionIdentity identity, IOutbox outbox, InboundFlow flow, IActorRef callbacks, ConnectionSettings settings)
    {
        _identity = identity;
        _outbox = outbox;
        _flow = flow;
        _callbacks = callbacks;
        _settings = settings;
        _log = settings.Logger;
    }

    /// <summary>The deployment of every connection actor (the lean <see cref="ConnectionMailbox"/>), made once and shared.</summary>
    private static readonly Deploy Deployment = Akka.Actor.Props.Empty.WithMailbox(ConnectionMailbox.Id).Deploy;

    /// <summary>
    /// The props of one connection actor, on the lean <see cref="ConnectionMailbox"/>, made by a <see cref="Producer"/>
    /// (no reflection on the connect path). The props live as long as the actor, so they hold one small producer with
    /// the arguments and the shared <see cref="Deployment"/>, not a closure, a delegate and a deployment per connection.
    /// </summary>
    internal static Props Props(ConnectionIdentity identity, IOutbox outbox, InboundFlow flow, IActorRef callbacks, ConnectionSettings settings) =>
        new ConnectionProps(Akka.Actor.Props.CreateBy(new Producer(identity, outbox, flow, callbacks, settings)));

    protected override bool Receive(object message)
    {
        switch (message)
        {
            case Ping:
                HandlePing();
                return true;
            case Heartbeat:
                HandleHeartbeat();
                return true;
            case ForwardToApp forward:
                HandleForwardToApp(forward);
                return true;
            case SendToClient send:
                _outbox.TryEnqueue(send.Message);
                return true;
            case DeadlineCheck:
                HandleDeadlineCheck();
                return true;
            case KeepAliveTick:
                HandleKeepAliveTick();
                return true;
            case Close close:
                CloseSocket(close.Code, close.Reason);
                return true;
            case SocketEndTimedOut:
                Context.Stop(Self);
                return true;
            case SocketClosed closed:
                HandleSocketClosed(closed);
                return true;
            case ForwardWithReply forward:
                HandleForwardWithReply(forward);
                return true;
            case CallbackProtocol.WalkerReplied replied:
                HandleReplied(replied);
                return true;
            case CallbackProtocol.WalkerFailed failed:
                HandleReplyFailed(failed.Reason);
                return true;
            case RouteToTargets route:
                _settings.Registry?.Tell(new Registry.RegistryProtocol.Route(route.Kind, route.Targets, route.Message), Self);
                return true;
            case ChangeIdentity change:
                HandleChangeIdentity(change);
                return true;
            default:
                return false;
        }
    }

    protected override void PreStart()
    {
        Log.Opened(_log, _identity.Id.Value, _identity.User, _identity.Dialect);
        _callbacks.Tell(new CallbackProtocol.ConnectionOpened(_identity), Self);
        if (_settings.PingTimeout is { } timeout)
        {
            ScheduleDeadlineCheck(timeout);
        }

        if (_settings.KeepAliveInterval is { } interval)
        {
            ScheduleKeepAlive(interval);
        }
    }

    protected override void PostStop()
    {
        _deadline?.Cancel();
        _keepAlive?.Cancel();
        _socketEndTimeout?.Cancel();
        _outbox.Close(_closeCode, _closeReason);
        _callbacks.Tell(new CallbackProtocol.ConnectionClosed(_identity), Self);

        // The registry unlists the connection now, not only when the user actor hears of the stop, so an app that lists
        // connections on receiving close (an HTTP round trip after this) almost always no longer finds it. Told after
        // the callback actor, so a shutdown drain that waits for an empty registry finds this close already queued
        // there; a thread preempted between the two tells can still let the app list first.
        _settings.Registry?.Tell(new Users.UserProtocol.ConnectionEnded(_identity.Id), Self);
        Log.Closed(_log, _identity.Id.Value, _identity.User, _closeCode, _closeReason);
    }

    private void HandlePing()
    {
        _lastLiveness = Stopwatch.GetTimestamp();
        _outbox.TryEnqueue(Pong);
    }

    private void HandleHeartbeat()
    {
        _awaitingPong = false;
        if (_settings.AnyFrameIsLiveness)
        {
            _lastLiveness = Stopwatch.GetTimestamp();
        }
    }

    private void HandleForwardToApp(ForwardToApp message)
    {
        if (_settings.AnyFrameIsLiveness)
        {
            _lastLiveness = Stopwatch.GetTimestamp();
        }

        _callbacks.Tell(new CallbackProtocol.MessageReceived(_identity, message, _flow), Self);
    }

    private void HandleForwardWithReply(ForwardWithReply message)
    {
        if (_settings.AnyFrameIsLiveness)
        {
            _lastLiveness = Stopwatch.GetTimestamp();
        }

        // The callback actor answers a connection's requests in order, so replies match this queue.
        (_pendingReplies ??= new Queue<Func<string, OutboundMessage>>()).Enqueue(message.FailureFrame);
        _callbacks.Tell(new CallbackProtocol.WalkerReceived(_identity, message.Message, _flow, Self, _settings.ReplyTimeout), Self);
    }

    private void HandleReplied(CallbackProtocol.WalkerReplied replied)
    {
        if (!IsSingleJsonValue(replied.Body))
        {
            HandleReplyFailed(replied.Body.Length == 0 ? "the app's response is empty" : "the app's response is not valid JSON");
            return;
        }

        if (_pendingReplies?.TryDequeue(out _) == true)
        {
            _outbox.TryEnqueue(OutboundMessage.Text(replied.Body));
        }
    }

    private void HandleReplyFailed(string reason)
    {
        if (_pendingReplies is not null && _pendingReplies.TryDequeue(out var failureFrame))
        {
            _outbox.TryEnqueue(failureFrame(reason));
        }
    }

    private void HandleChangeIdentity(ChangeIdentity change)
    {
        var previous = _identity;
        _identity = previous.WithUser(change.User, change.Token, change.AccessPublic);
        _settings.Registry?.Tell(new Registry.RegistryProtocol.IdentityChanged(previous, _identity), Self);
        Log.IdentityChanged(_log, _identity.Id.Value, previous.User, _identity.User);
    }

    private static bool IsSingleJsonValue(byte[] body)
    {
        try
        {
            var reader = new System.Text.Json.Utf8JsonReader(body);
            if (!reader.Read())
            {
                return false;
            }

            reader.Skip();
            return !reader.Read();
        }
        catch (System.Text.Json.JsonException)
        {
            return false;
        }
    }

    private void HandleDeadlineCheck()
    {
        var timeout = _settings.PingTimeout!.Value;
        if (_flow.HoldsBackReading)
        {
            // The gateway is not reading this socket (backpressure), so its pings may be waiting unread: no verdict.
            _lastLiveness = Stopwatch.GetTimestamp();
        }

        var idle = Stopwatch.GetElapsedTime(_lastLiveness);
        if (idle >= timeout)
        {
            CloseSocket(CloseCodes.PingTimeout, "ping timeout");
            return;
        }

        // The lazy deadline: one timer entry per connection, moved only when it fires, not per ping.
        ScheduleDeadlineCheck(timeout - idle);
    }

    private void ScheduleDeadlineCheck(TimeSpan delay) =>
        _deadline = Context.System.Scheduler.ScheduleTellOnceCancelable(delay, Self, DeadlineCheck.Instance, Self);

    /// <summary>
    /// Keep-alive: past the interval since the last ping, send one; past the timeout with that ping unanswered,
    /// close with 4000. The one scheduler entry is moved only when it fires (never per pong).
    /// </summary>
    private void HandleKeepAliveTick()
    {
        var sinceSent = Stopwatch.GetElapsedTime(_keepAlivePingSent);
        if (_awaitingPong && sinceSent >= _settings.KeepAliveTimeout && _flow.HoldsBackReading)
        {
            // The pong may be waiting unread behind data the gateway holds back (backpressure): wait another timeout.
            _keepAlivePingSent = Stopwatch.GetTimestamp();
            sinceSent = TimeSpan.Zero;
        }

        if (_awaitingPong && sinceSent >= _settings.KeepAliveTimeout)
        {
            CloseSocket(CloseCodes.PingTimeout, "ping timeout");
            return;
        }

        if (!_awaitingPong && sinceSent >= _settings.KeepAliveInterval!.Value)
        {
            _outbox.TryEnqueue(ProtocolPing);
            _keepAlivePingSent = Stopwatch.GetTimestamp();
            _awaitingPong = true;
            sinceSent = TimeSpan.Zero;
        }

        ScheduleKeepAlive((_awaitingPong ? _settings.KeepAliveTimeout : _settings.KeepAliveInterval!.Value) - sinceSent);
    }

    private void ScheduleKeepAlive(TimeSpan delay) =>
        _keepAlive = Context.System.Scheduler.ScheduleTellOnceCancelable(delay, Self, KeepAliveTick.Instance, Self);

    private void HandleSocketClosed(SocketClosed closed)
    {
        _closeCode = closed.Code;
        _closeReason = closed.Reason;
        Context.Stop(Self);
    }

    /// <summary>
    /// Closes the socket with <paramref name="code"/> and waits for it to report its end: frames it read before
    /// the close still reach the app, then the actor stops. The first close wins, as in the socket.
    /// </summary>
    private void CloseSocket(int code, string reason)
    {
        if (_socketEndTimeout is not null)
        {
            return;
        }

        _closeCode = code;
        _closeReason = reason;
        _deadline?.Cancel();
        _keepAlive?.Cancel();
        _outbox.Close(code, reason);
        _socketEndTimeout = Context.System.Scheduler.ScheduleTellOnceCancelable(_settings.SocketEndTimeout, Self, SocketEndTimedOut.Instance, Self);
    }

    /// <summary>Akka's <see cref="IIndirectActorProducer"/> for one connection: creates the actor from its arguments.</summary>
    private sealed class Producer(ConnectionIdentity identity, IOutbox outbox, InboundFlow flow, IActorRef callbacks, ConnectionSettings settings) : IIndirectActorProducer
    {
        public Type ActorType => typeof(ConnectionActor);

        public ActorBase Produce() => new ConnectionActor(identity, outbox, flow, callbacks, settings);

        public void Release(ActorBase actor)
        {
        }
    }

    /// <summary>
    /// Props with the shared <see cref="Deployment"/> set as is. <see cref="Akka.Actor.Props.WithDeploy"/> would merge it
    /// into a new <see cref="Deploy"/> (72 bytes) for every connection; Akka's copy constructor and protected setter keep
    /// the one instance.
    /// </summary>
    private sealed class ConnectionProps : Props
    {
        public ConnectionProps(Props produced)
            : base(produced)
        {
            Deploy = Deployment;
        }
    }

    private sealed class DeadlineCheck
    {
        public static readonly DeadlineCheck Instance = new();
    }

    private sealed class KeepAliveTick
    {
        public static readonly KeepAliveTick Instance = new();
    }

    private sealed class SocketEndTimedOut
    {
        public static readonly SocketEndTimedOut Instance = new();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 200, Level = LogLevel.Debug, Message = "Connection {ConnectionId} opened for user {User} ({Dialect})")]
        public static partial void Opened(ILogger logger, string connectionId, string user, Dialect dialect);

        [LoggerMessage(EventId = 202, Level = LogLevel.Information, Message = "Connection {ConnectionId} changed user from {Previous} to {User}")]
        public static partial void IdentityChanged(ILogger logger, string connectionId, string previous, string user);

        [LoggerMessage(EventId = 201, Level = LogLevel.Debug, Message = "Connection {ConnectionId} of user {User} closed with {Code} {Reason}")]
        public static partial void Closed(ILogger logger, string connectionId, string user, int code, string reason);
    }
}
