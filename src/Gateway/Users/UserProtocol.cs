using Akka.Actor;
using Gateway.Connections;
using Gateway.WebSockets;

namespace Gateway.Users;

/// <summary>Messages between the registry, a <see cref="UserActor"/> and the endpoint that asked for a connection.</summary>
public static class UserProtocol
{
    /// <summary>Create the connection actor; the reply <see cref="ConnectionAttached"/> goes to the sender (the endpoint's ask).</summary>
    internal sealed record AttachConnection(ConnectionIdentity Identity, IOutbox Outbox, InboundFlow Flow);

    /// <summary>The connection actor exists and may be told frames.</summary>
    public sealed record ConnectionAttached(IActorRef Connection);

    /// <summary>Stop the connection actor with this id if it exists (its endpoint gave up waiting).</summary>
    public sealed record AbandonConnection(ConnectionId Id);

    /// <summary>Sent to the registry: a connection actor of this user has stopped.</summary>
    public sealed record ConnectionEnded(ConnectionId Id);

    /// <summary>
    /// Sent to the registry: the user actor has no connections left after handling
    /// <paramref name="Attached"/> attach requests. The registry stops it unless it has routed more.
    /// </summary>
    public sealed record UserIdle(string User, long Attached);

    /// <summary>
    /// From the registry, after it took back an attach it had routed to this user actor but never sent (the
    /// connection was abandoned while the cluster directory was written): answer <see cref="UserIdle"/> if idle.
    /// </summary>
    internal sealed class CheckIdle
    {
        public static readonly CheckIdle Instance = new();

        private CheckIdle()
        {
        }
    }
}
