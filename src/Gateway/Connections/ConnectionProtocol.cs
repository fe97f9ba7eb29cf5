using Akka.Actor;
using Akka.Event;
using Gateway.WebSockets;

namespace Gateway.Connections;

/// <summary>Messages a <see cref="ConnectionActor"/> understands.</summary>
public static class ConnectionProtocol
{
    /// <summary>How a client frame reaches the app.</summary>
    public enum FrameKind
    {
        /// <summary>A text frame holding a JSON object: passed through verbatim as <c>data</c>.</summary>
        JsonObject,

        /// <summary>Any other text frame: <c>data:{}</c> plus <c>raw_text</c>.</summary>
        Text,

        /// <summary>A binary frame: <c>data:{}</c> plus <c>raw_binary</c>.</summary>
        Binary,
    }

    /// <summary>A TAPR JSON ping: answer <c>{"event":"pong"}</c> and refresh the deadline; not forwarded.</summary>
    public sealed class Ping : INotInfluenceReceiveTimeout, IDeadLetterSuppression
    {
        public static readonly Ping Instance = new();

        private Ping()
        {
        }
    }

    /// <summary>A WebSocket protocol ping or pong: liveness only.</summary>
    public sealed class Heartbeat : IDeadLetterSuppression
    {
        public static readonly Heartbeat Instance = new();

        private Heartbeat()
        {
        }
    }

    /// <summary>
    /// A client frame for the app. <paramref name="Frame"/> is the whole frame; for a JSON object,
    /// <paramref name="DataOffset"/>/<paramref name="DataLength"/> delimit the object without surrounding whitespace.
    /// The read loop has counted <c>Frame.Length</c> against the connection's inbound flow.
    /// </summary>
    public sealed record ForwardToApp(byte[] Frame, FrameKind Kind, int DataOffset, int DataLength) : IDeadLetterSuppression
    {
        /// <summary>
        /// The inbound flow <c>Frame.Length</c> is counted against. A frame that ends as a dead letter (its connection
        /// stopped first) gives the bytes back through <see cref="UndeliveredFramesActor"/>.
        /// </summary>
        internal InboundFlow? Flow { get; init; }
    }

    /// <summary>Write <paramref name="Message"/> to this client, in order with everything else the actor sends it.</summary>
    internal sealed record SendToClient(OutboundMessage Message) : IDeadLetterSuppression;

    /// <summary>
    /// A client frame for the app whose HTTP response is the client's answer (a jac walker with
    /// <c>response: true</c>): the response body goes back to the client as one frame, after anything the
    /// app pushed meanwhile; a failure goes back as <paramref name="FailureFrame"/>(reason).
    /// </summary>
    internal sealed record ForwardWithReply(ForwardToApp Message, Func<string, OutboundMessage> FailureFrame);

    /// <summary>Deliver <paramref name="Message"/> to the connections of these users, channels or client ids (jac direct messages).</summary>
    internal sealed record RouteToTargets(Registry.RegistryProtocol.RouteKind Kind, IReadOnlyList<string> Targets, OutboundMessage Message);

    /// <summary>The client re-authenticated (jac <c>change_user</c>): it is now this user; the registry's indexes follow.</summary>
    public sealed record ChangeIdentity(string User, string Token, bool AccessPublic);

    /// <summary>Close the socket with <paramref name="Code"/>; the actor stops when the socket reports its end (<see cref="SocketClosed"/>).</summary>
    public sealed record Close(int Code, string Reason);

    /// <summary>The socket has ended (either side); the actor stops, which sends the app's <c>close</c>.</summary>
    public sealed record SocketClosed(int Code, string Reason) : IDeadLetterSuppression;
}
