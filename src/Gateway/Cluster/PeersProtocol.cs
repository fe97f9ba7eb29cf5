using Akka.Actor;
using Gateway.Connections;
using Gateway.Registry;
using Gateway.WebSockets;

namespace Gateway.Cluster;

/// <summary>Messages the <see cref="PeersActor"/> understands from its own node (the admin edge, the registry), and its replies.</summary>
public static class PeersProtocol
{
    /// <summary>Send on every node; the reply is one <see cref="RegistryProtocol.DeliveryReceipt"/>, the sum over the nodes that answered.</summary>
    internal sealed record ClusterSend(RegistryProtocol.TargetFilter Filter, OutboundMessage Message);

    /// <summary>Close on every node (each node's own app hears its own sockets' closes); the reply is <see cref="RegistryProtocol.ConnectionsClosed"/>, summed.</summary>
    public sealed record ClusterClose(RegistryProtocol.TargetFilter Filter, int Code, string Reason);

    /// <summary>The cluster-wide list; the reply is a <see cref="ClusterConnectionList"/>.</summary>
    public sealed class ClusterList
    {
        public static readonly ClusterList Instance = new();

        private ClusterList()
        {
        }
    }

    /// <summary>
    /// Every answering node's connections merged into one list (users in ordinal order, each user's
    /// connections by connect time), the node each connection lives on, and the nodes left out
    /// (unreachable, or no answer within <see cref="GatewayClusterOptions.NodeTimeout"/>).
    /// </summary>
    public sealed record ClusterConnectionList(
        RegistryProtocol.ConnectionList List,
        IReadOnlyDictionary<ConnectionIdentity, string> NodeOf,
        IReadOnlyList<string> MissingNodes);

    /// <summary>A jac route delivered on this node; relay it to every other reachable node.</summary>
    internal sealed record Relay(RegistryProtocol.Route Route);

    /// <summary>Told by the peers actor to its gathers: stop waiting for <paramref name="Node"/>, it is unreachable or gone.</summary>
    internal sealed record NodeLost(Address Node);

    /// <summary>
    /// To gathers in flight: <paramref name="Node"/> has begun to leave the cluster, after its drain, so it holds no
    /// connection: stop waiting for it without naming it missing.
    /// </summary>
    internal sealed record NodeLeft(Address Node);

    /// <summary>The reply is <see cref="PeerStats"/>.</summary>
    public sealed class GetPeerStats
    {
        public static readonly GetPeerStats Instance = new();

        private GetPeerStats()
        {
        }
    }

    /// <summary>Nodes this node can reach now, and peer messages sent so far (each one to one node): to every node (broadcast), only to owners (routed), and relayed jac routes.</summary>
    public sealed record PeerStats(int ReachableNodes, long BroadcastMessages, long RelayedRoutes, long RoutedMessages = 0);

    /// <summary>A message too large to cross nodes (<see cref="PeerMessageSerializer.MaxSerializedBytes"/>).</summary>
    public sealed class PeerMessageTooLargeException(long bytes)
        : InvalidOperationException($"message of {bytes} bytes is over the {PeerMessageSerializer.MaxSerializedBytes} bytes that may cross nodes")
    {
        public long Bytes { get; } = bytes;
    }
}
