using Akka.Actor;
using Gateway.Connections;
using Gateway.WebSockets;

namespace Gateway.Callbacks;

/// <summary>Connection events for the app, told to the <see cref="CallbackActor"/> by connection actors.</summary>
public static class CallbackProtocol
{
    /// <summary>Base of the events; each connection's events are delivered in the order they are told.</summary>
    public abstract record CallbackEvent(ConnectionIdentity Identity);

    /// <summary>The connection opened: <c>action: "open"</c>.</summary>
    public sealed record ConnectionOpened(ConnectionIdentity Identity) : CallbackEvent(Identity);

    /// <summary>A client frame: <c>action: "message"</c>. <paramref name="Flow"/> gets its bytes back once the app has dealt with it.</summary>
    internal sealed record MessageReceived(ConnectionIdentity Identity, ConnectionProtocol.ForwardToApp Message, InboundFlow Flow) : CallbackEvent(Identity);

    /// <summary>
    /// A jac walker event: delivered as a <c>message</c>. With <paramref name="ReplyTo"/>, one attempt
    /// within <paramref name="Timeout"/>; the app's response body (or an error) is told back as
    /// <see cref="WalkerReplied"/> or <see cref="WalkerFailed"/>.
    /// </summary>
    internal sealed record WalkerReceived(ConnectionIdentity Identity, ConnectionProtocol.ForwardToApp Message, InboundFlow Flow, IActorRef? ReplyTo, TimeSpan Timeout) : CallbackEvent(Identity);

    /// <summary>The connection closed: <c>action: "close"</c>, the last event of the connection.</summary>
    public sealed record ConnectionClosed(ConnectionIdentity Identity) : CallbackEvent(Identity);

    /// <summary>The app answered a walker event with this JSON body.</summary>
    public sealed record WalkerReplied(byte[] Body);

    /// <summary>The walker event could not be delivered or answered.</summary>
    public sealed record WalkerFailed(string Reason);

    /// <summary>The reply, <see cref="Drained"/>, comes once every queued event has been delivered or given up.</summary>
    public sealed class AwaitDrained
    {
        public static readonly AwaitDrained Instance = new();

        private AwaitDrained()
        {
        }
    }

    /// <summary>No event is waiting.</summary>
    public sealed class Drained
    {
        public static readonly Drained Instance = new();

        private Drained()
        {
        }
    }

    /// <summary>The reply is <see cref="CallbackStats"/>.</summary>
    public sealed class GetStats
    {
        public static readonly GetStats Instance = new();

        private GetStats()
        {
        }
    }

    /// <summary>Events waiting, connections with events waiting, and requests in flight.</summary>
    public sealed record CallbackStats(int PendingEvents, int Connections, int InFlight);
}
