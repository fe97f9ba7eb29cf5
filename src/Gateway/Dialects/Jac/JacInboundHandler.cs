using Akka.Actor;
using Gateway.Connections;
using Gateway.Hosting;
using Gateway.WebSockets;

namespace Gateway.Dialects.Jac;

/// <summary>
/// Turns jac client frames into connection messages, in order: the connection event again, direct
/// messages to users/channels/clients, a change of identity, walkers for the app, and the error
/// frames for what is not a valid event (the socket stays open).
/// </summary>
internal sealed partial class JacInboundHandler(
    ConnectionIdentity identity,
    IActorRef connection,
    InboundFlow flow,
    JacAuthenticator authenticator,
    GatewayMetrics metrics,
    ILogger log) : IInboundHandler
{
    private static readonly Func<string, OutboundMessage> WalkerError = JacFrames.WalkerError;

    private readonly string? _handshakeToken = identity.Token.Length > 0 ? identity.Token : null;
    private ConnectionIdentity _identity = identity;

    public void OnMessage(byte[] payload, bool isText)
    {
        metrics.MessageIn(Dialect.Jac);
        if (!isText)
        {
            Reply(JacFrames.Error("Binary frames are not supported: send events as JSON text."));
            return;
        }

        switch (JacEvent.Parse(payload))
        {
            case JacEvent.Invalid invalid:
                Reply(JacFrames.Error(invalid.Reason));
                break;
            case JacEvent.Rejected rejected:
                Reply(JacFrames.ValidationErrors(rejected.Errors));
                break;
            case JacEvent.Connection:
                Reply(JacFrames.ConnectionEvent(_identity));
                break;
            case JacEvent.Direct direct:
                connection.Tell(new ConnectionProtocol.RouteToTargets(direct.Kind, direct.Targets, OutboundMessage.Text(direct.Data)), ActorRefs.NoSender);
                break;
            case JacEvent.ChangeUser change:
                ChangeUser(change.Token);
                break;
            case JacEvent.Walker walker:
                var frame = JsonFrame.Inspect(payload);
                var forward = new ConnectionProtocol.ForwardToApp(payload, ConnectionProtocol.FrameKind.JsonObject, frame.Start, frame.Length) { Flow = flow };
                flow.Acquire(payload.Length);
                connection.Tell(walker.Response ? new ConnectionProtocol.ForwardWithReply(forward, WalkerError) : forward, ActorRefs.NoSender);
                break;
        }
    }

    public void OnHeartbeat() => connection.Tell(ConnectionProtocol.Heartbeat.Instance, ActorRefs.NoSender);

    public void OnClosed(int code, string reason) => connection.Tell(new ConnectionProtocol.SocketClosed(code, reason), ActorRefs.NoSender);

    private void ChangeUser(string? token)
    {
        // A null or empty token means the handshake's token again; an invalid one makes the socket public.
        var effective = string.IsNullOrEmpty(token) ? _handshakeToken : JacAuthenticator.StripScheme(token);
        var authentication = authenticator.Authenticate(effective);
        if (authentication.IsPublic && effective is not null)
        {
            Log.PublicFallback(log, _identity.Id.Value, authentication.Reason ?? "invalid token");
        }

        _identity = _identity.WithUser(authentication.RootId, authentication.Token, authentication.IsPublic);
        connection.Tell(new ConnectionProtocol.ChangeIdentity(_identity.User, _identity.Token, _identity.AccessPublic), ActorRefs.NoSender);
        Reply(JacFrames.ConnectionEvent(_identity));
    }

    private void Reply(OutboundMessage message) => connection.Tell(new ConnectionProtocol.SendToClient(message), ActorRefs.NoSender);

    private static partial class Log
    {
        [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "change_user on {ConnectionId}: the socket is now the public user ({Reason})")]
        public static partial void PublicFallback(ILogger logger, string connectionId, string reason);
    }
}
