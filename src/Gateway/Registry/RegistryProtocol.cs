using Gateway.Connections;
using Gateway.WebSockets;

namespace Gateway.Registry;

/// <summary>Messages the <see cref="RegistryActor"/> understands, and its replies.</summary>
public static class RegistryProtocol
{
    /// <summary>Index a new connection and have its user's actor create its connection actor. The reply (to the asker) is <see cref="Users.UserProtocol.ConnectionAttached"/>.</summary>
    internal sealed record RegisterConnection(ConnectionIdentity Identity, IOutbox Outbox, InboundFlow Flow);

    /// <summary>The endpoint gave up waiting for <see cref="RegisterConnection"/>'s reply: undo it.</summary>
    public sealed record AbandonConnection(ConnectionId Id);

    /// <summary>
    /// Which connections a command targets: the intersection of the filters that are given (each
    /// filter itself a union of its values). <paramref name="UsersAccessType"/> (0 all, 1 only
    /// non-public, 2 only public) applies only with <paramref name="Users"/>; <paramref name="All"/>
    /// targets every connection when no filter is given.
    /// </summary>
    public sealed record TargetFilter(
        IReadOnlyCollection<string>? ConnIds = null,
        IReadOnlyCollection<string>? Users = null,
        IReadOnlyCollection<string>? Tokens = null,
        IReadOnlyCollection<string>? Channels = null,
        int UsersAccessType = 0,
        bool All = false)
    {
        public bool IsEmpty => IsNullOrEmpty(ConnIds) && !HasUsers && !HasTokens && !HasChannels;

        /// <summary>True when <see cref="Users"/> names at least one user.</summary>
        public bool HasUsers => !IsNullOrEmpty(Users);

        /// <summary>True when <see cref="Tokens"/> names at least one token.</summary>
        public bool HasTokens => !IsNullOrEmpty(Tokens);

        /// <summary>True when <see cref="Channels"/> names at least one channel.</summary>
        public bool HasChannels => !IsNullOrEmpty(Channels);

        /// <summary>
        /// True when <paramref name="other"/> names the same values in the same order (so it resolves to the same
        /// connections while the index does not change). False only costs a second resolve.
        /// </summary>
        public bool SameTargetsAs(TargetFilter other) =>
            ReferenceEquals(this, other)
            || (All == other.All && UsersAccessType == other.UsersAccessType
                && SameValues(ConnIds, other.ConnIds) && SameValues(Users, other.Users)
                && SameValues(Tokens, other.Tokens) && SameValues(Channels, other.Channels));

        private static bool IsNullOrEmpty(IReadOnlyCollection<string>? values) => values is null || values.Count == 0;

        private static bool SameValues(IReadOnlyCollection<string>? a, IReadOnlyCollection<string>? b) =>
            IsNullOrEmpty(a) ? IsNullOrEmpty(b) : b is not null && a!.SequenceEqual(b, StringComparer.Ordinal);
    }

    /// <summary>Write <paramref name="Message"/> to every target; the reply is a <see cref="DeliveryReceipt"/>.</summary>
    internal sealed record SendToConnections(TargetFilter Filter, OutboundMessage Message);

    /// <summary>How a send went: targets found, messages queued, and targets refused (closing, or too slow and now being closed with 4001).</summary>
    public sealed record DeliveryReceipt(int Matched, int Enqueued, int Dropped);

    /// <summary>Close every target with <paramref name="Code"/>; the reply is <see cref="ConnectionsClosed"/>.</summary>
    public sealed record CloseConnections(TargetFilter Filter, int Code, string Reason);

    /// <summary>How many connections a close command closed.</summary>
    public sealed record ConnectionsClosed(int Count);

    /// <summary>The reply is a <see cref="ConnectionList"/>.</summary>
    public sealed class GetConnections
    {
        public static readonly GetConnections Instance = new();

        private GetConnections()
        {
        }
    }

    /// <summary>Every connection, grouped by user (ordinal order), each group split into private and public connections in connection order.</summary>
    public sealed record ConnectionList(IReadOnlyList<UserConnections> Users);

    /// <summary>One user's connections.</summary>
    public sealed record UserConnections(string Name, IReadOnlyList<ConnectionIdentity> Private, IReadOnlyList<ConnectionIdentity> Public);

    /// <summary>
    /// Deliver a jac <c>user</c>/<c>channel</c>/<c>client</c> event's data to the connections of those roots,
    /// channels or client ids. With clustering on, the registry also hands a route to the peers actor, which
    /// relays it to every other node marked <paramref name="Relayed"/> (delivered there locally only).
    /// </summary>
    internal sealed record Route(RouteKind Kind, IReadOnlyList<string> Targets, OutboundMessage Message, bool Relayed = false);

    /// <summary>
    /// From now on, relay jac routes through <paramref name="Peers"/> (the <see cref="Gateway.Cluster.PeersActor"/>),
    /// and publish each new connection's users and channels to <paramref name="Directory"/> (the
    /// <see cref="Gateway.Cluster.DirectoryActor"/>) before attaching it; sent once at start when clustering is on.
    /// </summary>
    internal sealed record UsePeers(Akka.Actor.IActorRef Peers, Akka.Actor.IActorRef? Directory = null);

    /// <summary>Whom a jac event addresses.</summary>
    public enum RouteKind
    {
        Users,
        Channels,
        Clients,
    }

    /// <summary>A connection's user or token changed (jac <c>change_user</c>): move its index entries.</summary>
    public sealed record IdentityChanged(ConnectionIdentity Previous, ConnectionIdentity Current);

    /// <summary>Refuse new connections and close every connection with <paramref name="Code"/>; the reply is <see cref="ConnectionsClosed"/>.</summary>
    public sealed record CloseAll(int Code, string Reason);

    /// <summary>The reply, <see cref="RegistryEmpty"/>, comes once no connection remains.</summary>
    public sealed class AwaitEmpty
    {
        public static readonly AwaitEmpty Instance = new();

        private AwaitEmpty()
        {
        }
    }

    /// <summary>No connection remains.</summary>
    public sealed class RegistryEmpty
    {
        public static readonly RegistryEmpty Instance = new();

        private RegistryEmpty()
        {
        }
    }

    /// <summary>The reply is <see cref="RegistryStats"/>.</summary>
    public sealed class GetStats
    {
        public static readonly GetStats Instance = new();

        private GetStats()
        {
        }
    }

    /// <summary>Counts, for health and metrics.</summary>
    public sealed record RegistryStats(int Connections, int Users, int UserActors);

    /// <summary>The registry is refusing connections because the gateway is shutting down.</summary>
    public sealed class ShuttingDownException() : InvalidOperationException("The gateway is shutting down.");
}
