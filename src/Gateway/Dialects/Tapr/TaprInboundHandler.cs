using System.Text.Unicode;
using Akka.Actor;
using Gateway.Connections;
using Gateway.Hosting;
using Gateway.WebSockets;

namespace Gateway.Dialects.Tapr;

/// <summary>
/// Turns TAPR client frames into connection messages: a frame that is a JSON object with
/// <c>"event":"ping"</c> (text or binary) is a <see cref="ConnectionProtocol.Ping"/>; everything else
/// goes to the app (a JSON object, text or binary, as that object; anything else raw), its bytes counted
/// against the connection's inbound flow until the app has it.
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

        // PROTOCOL.md §2: Olares decodes text and binary frames alike, so a binary frame holding a JSON object
        // (valid UTF-8, as JSON text must be) is forwarded as that object; anything else rides along raw.
        var kind = frame.IsObject && (isText || Utf8.IsValid(payload))
            ? ConnectionProtocol.FrameKind.JsonObject
            : isText ? ConnectionProtocol.FrameKind.Text : ConnectionProtocol.FrameKind.Binary;
        flow.Acquire(payload.Length);
        connection.Tell(new ConnectionProtocol.ForwardToApp(payload, kind, frame.Start, frame.Length) { Flow = flow }, ActorRefs.NoSender);
    }

    public void OnHeartbeat() => connection.Tell(ConnectionProtocol.Heartbeat.Instance, ActorRefs.NoSender);

    public void OnClosed(int code, string reason) => connection.Tell(new ConnectionProtocol.SocketClosed(code, reason), ActorRefs.NoSender);
}
