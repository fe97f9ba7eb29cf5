using Akka.Actor;
using Gateway.Connections;
using Gateway.Hosting;
using Gateway.WebSockets;

namespace Gateway.Dialects.Tapr;

/// <summary>
/// Turns TAPR client frames into connection messages: a frame that is a JSON object with
/// <c>"event":"ping"</c> (text or binary) is a <see cref="ConnectionProtocol.Ping"/>; everything else
/// goes to the app, its bytes counted against the connection's inbound flow until the app has it.
/// </summary>
internal sealed class TaprInboundHandler(IActorRef connection, InboundFlow flow, GatewayMetrics metrics) : IInboundHandler
{
    public void OnMessage(byte[] payload, bool isText)
    {
        metrics.MessageIn(Dialect.Tapr);
        var frame = JsonFrame.Inspect(payload);
        if (frame.IsPing)
        {
            connection.Tell(ConnectionProtocol.Ping.Instance, ActorRefs.NoSender);
            return;
        }

        var kind = !isText
            ? ConnectionProtocol.FrameKind.Binary
            : frame.IsObject ? ConnectionProtocol.FrameKind.JsonObject : ConnectionProtocol.FrameKind.Text;
        flow.Acquire(payload.Length);
        connection.Tell(new ConnectionProtocol.ForwardToApp(payload, kind, frame.Start, frame.Length), ActorRefs.NoSender);
    }

    public void OnHeartbeat() => connection.Tell(ConnectionProtocol.Heartbeat.Instance, ActorRefs.NoSender);

    public void OnClosed(int code, string reason) => connection.Tell(new ConnectionProtocol.SocketClosed(code, reason), ActorRefs.NoSender);
}
