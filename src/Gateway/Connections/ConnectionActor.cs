using System.Diagnostics;
using Gateway.Actor;
using Gateway.Callbacks;
using Gateway.WebSockets;
using static Gateway.Connections.ConnectionProtocol;

namespace Gateway.Connections;

/// <summary>What a connection actor needs besides its identity and socket.</summary>
/// <param name="PingTimeout">Close with 4000 after this long without liveness; <see langword="null"/> for no deadline (jac).</param>
/// <param name="AnyFrameIsLiveness">Whether data frames and protocol pings/pongs also refresh the deadline.</param>
public sealed record ConnectionSettings(TimeSpan? PingTimeout, bool AnyFrameIsLiveness);

/// <summary>
/// One client socket: its identity, its ping deadline, the only writer of its frames besides
/// fan-out, and its close. Stopped, never restarted, when anything goes wrong (a socket cannot be
/// reopened); every stop sends the app exactly one <c>close</c>.
/// </summary>
public sealed partial class ConnectionActor : ReceiveActor
{
    private static readonly OutboundMessage Pong = OutboundMessage.Text("{\"event\":\"pong\"}");

    private readonly IOutbox _outbox;
    private readonly InboundFlow _flow;
    private readonly IActorRef _callbacks;
    private readonly ConnectionSettings _settings;
    private readonly ILogger _log;
    private readonly ConnectionIdentity _identity;
    private long _lastLiveness = Stopwatch.GetTimestamp();
    private ICancelable? _deadline;
    private int _closeCode = CloseCodes.InternalError;
    private string _closeReason = "internal error";

    internal ConnectionActor(ConnectionIdentity identity, IOutbox outbox, InboundFlow flow, IActorRef callbacks, ConnectionSettings settings)
    {
        _identity = identity;
        _outbox = outbox;
        _flow = flow;
        _callbacks = callbacks;
        _settings = settings;
        _log = Context.GetLogger();

        Receive<Ping>(_ => HandlePing());
        Receive<Heartbeat>(_ => HandleHeartbeat());
        Receive<ForwardToApp>(HandleForwardToApp);
        Receive<SendToClient>(message => _outbox.TryEnqueue(message.Message));
        Receive<DeadlineCheck>(_ => HandleDeadlineCheck());
        Receive<Close>(HandleClose);
        Receive<SocketClosed>(HandleSocketClosed);
    }

    internal static Props Props(ConnectionIdentity identity, IOutbox outbox, InboundFlow flow, IActorRef callbacks, ConnectionSettings settings) =>
        Actor.Props.Create(() => new ConnectionActor(identity, outbox, flow, callbacks, settings));

    protected override void PreStart()
    {
        Log.Opened(_log, _identity.Id.Value, _identity.User, _identity.Dialect);
        _callbacks.Tell(new CallbackProtocol.ConnectionOpened(_identity), Self);
        if (_settings.PingTimeout is { } timeout)
        {
            ScheduleDeadlineCheck(timeout);
        }
    }

    protected override void PostStop()
    {
        _deadline?.Cancel();
        _outbox.Close(_closeCode, _closeReason);
        _callbacks.Tell(new CallbackProtocol.ConnectionClosed(_identity), Self);
        Log.Closed(_log, _identity.Id.Value, _identity.User, _closeCode, _closeReason);
    }

    private void HandlePing()
    {
        _lastLiveness = Stopwatch.GetTimestamp();
        _outbox.TryEnqueue(Pong);
    }

    private void HandleHeartbeat()
    {
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

    private void HandleDeadlineCheck()
    {
        var timeout = _settings.PingTimeout!.Value;
        var idle = Stopwatch.GetElapsedTime(_lastLiveness);
        if (idle >= timeout)
        {
            StopWith(CloseCodes.PingTimeout, "ping timeout");
            return;
        }

        // The lazy deadline: one timer entry per connection, moved only when it fires, not per ping.
        ScheduleDeadlineCheck(timeout - idle);
    }

    private void ScheduleDeadlineCheck(TimeSpan delay) =>
        _deadline = Context.System.Scheduler.ScheduleTellOnceCancelable(delay, Self, DeadlineCheck.Instance, Self);

    private void HandleClose(Close close) => StopWith(close.Code, close.Reason);

    private void HandleSocketClosed(SocketClosed closed)
    {
        _closeCode = closed.Code;
        _closeReason = closed.Reason;
        Context.Stop(Self);
    }

    private void StopWith(int code, string reason)
    {
        _closeCode = code;
        _closeReason = reason;
        _outbox.Close(code, reason);
        Context.Stop(Self);
    }

    private sealed class DeadlineCheck
    {
        public static readonly DeadlineCheck Instance = new();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 200, Level = LogLevel.Debug, Message = "Connection {ConnectionId} opened for user {User} ({Dialect})")]
        public static partial void Opened(ILogger logger, string connectionId, string user, Dialect dialect);

        [LoggerMessage(EventId = 201, Level = LogLevel.Debug, Message = "Connection {ConnectionId} of user {User} closed with {Code} {Reason}")]
        public static partial void Closed(ILogger logger, string connectionId, string user, int code, string reason);
    }
}
