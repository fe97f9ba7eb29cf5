using Akka.Actor;
using Akka.Cluster;
using Gateway.Hosting;
using Gateway.Registry;
using static Gateway.Cluster.PeersProtocol;

namespace Gateway.Cluster;

/// <summary>
/// This node's door to the other gateways (<c>/user/peers</c>, only with clustering on). It follows cluster
/// membership (members that are <c>Up</c>, and which of them are unreachable), turns each cluster-wide admin
/// call into a <see cref="ScatterGatherActor"/> over the reachable nodes, relays jac routes to the other
/// nodes, and hands the registry commands that peers send it to its own registry. Each node's registry acts
/// on its own sockets only, so every socket is matched once, and its close callback goes to its own app.
/// </summary>
public sealed partial class PeersActor : ReceiveActor
{
    private readonly IActorRef _registry;
    private readonly TimeSpan _nodeTimeout;
    private readonly ILogger _log;
    private readonly GatewayMetrics? _metrics;
    private readonly Akka.Cluster.Cluster _cluster;
    private readonly HashSet<Address> _up = [];
    private readonly HashSet<Address> _unreachable = [];
    private long _broadcastMessages;
    private long _relayedRoutes;

    /// <param name="registry">This node's <see cref="RegistryActor"/>.</param>
    /// <param name="nodeTimeout">How long a gather waits for a node (<see cref="GatewayClusterOptions.NodeTimeout"/>).</param>
    /// <param name="log">Where it logs.</param>
    /// <param name="metrics">Counts peer messages by routing, relayed routes and reachable nodes; none when null.</param>
    internal PeersActor(IActorRef registry, TimeSpan nodeTimeout, ILogger<PeersActor> log, GatewayMetrics? metrics = null)
    {
        _registry = registry;
        _nodeTimeout = nodeTimeout;
        _log = log;
        _metrics = metrics;
        _cluster = Akka.Cluster.Cluster.Get(Context.System);

        Receive<ClusterEvent.MemberUp>(up =>
        {
            _up.Add(up.Member.Address);
            ReportReachable();
        });
        Receive<ClusterEvent.MemberRemoved>(removed => Lost(removed.Member.Address, forget: true));
        Receive<ClusterEvent.UnreachableMember>(unreachable =>
        {
            Log.NodeUnreachable(_log, unreachable.Member.Address.ToString());
            Lost(unreachable.Member.Address, forget: false);
        });
        Receive<ClusterEvent.ReachableMember>(reachable =>
        {
            _unreachable.Remove(reachable.Member.Address);
            ReportReachable();
        });
        Receive<ClusterEvent.IMemberEvent>(_ => { });
        Receive<Akka.Remote.ThisActorSystemQuarantinedEvent>(HandleQuarantined);

        // From this node's admin edge.
        Receive<ClusterSend>(send => Gather(new RegistryProtocol.SendToConnections(send.Filter, send.Message), PeerMessageSerializer.SizeOf(send.Message, send.Filter)));
        Receive<ClusterClose>(close => Gather(new RegistryProtocol.CloseConnections(close.Filter, close.Code, close.Reason), 0));
        Receive<ClusterList>(_ => Gather(RegistryProtocol.GetConnections.Instance, 0));
        Receive<Relay>(HandleRelay);
        Receive<GetPeerStats>(_ => Sender.Tell(new PeerStats(Reachable().Count(), _broadcastMessages, _relayedRoutes)));

        // From a gather (on any node): run it on this node's sockets; the registry answers the gather directly.
        Receive<RegistryProtocol.SendToConnections>(command => _registry.Forward(command));
        Receive<RegistryProtocol.CloseConnections>(command => _registry.Forward(command));
        Receive<RegistryProtocol.GetConnections>(command => _registry.Forward(command));
        Receive<RegistryProtocol.Route>(route => _registry.Forward(route with { Relayed = true }));
    }

    /// <summary>The peers actor's props; one per node, named <c>peers</c>.</summary>
    internal static Props Props(IActorRef registry, TimeSpan nodeTimeout, ILogger<PeersActor> log, GatewayMetrics? metrics = null) =>
        ActorFactory<PeersActor>.Props(() => new PeersActor(registry, nodeTimeout, log, metrics));

    /// <summary>A gather that fails is a bug in combining answers; its caller times out, the others go on.</summary>
    protected override SupervisorStrategy SupervisorStrategy() => Akka.Actor.SupervisorStrategy.StoppingStrategy;

    protected override void PreStart()
    {
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent));
        Context.System.EventStream.Subscribe(Self, typeof(Akka.Remote.ThisActorSystemQuarantinedEvent));
    }

    protected override void PostStop()
    {
        _cluster.Unsubscribe(Self);
        Context.System.EventStream.Unsubscribe(Self);
    }

    /// <summary>
    /// A peer quarantined this node: it was removed from the cluster while it could not hear about it (a long
    /// pause, a partition). Its own split-brain resolver may still think it is the majority of a cluster of one,
    /// so do not wait for it: drain and exit as a downed node does, so that it is restarted and rejoins.
    /// </summary>
    private void HandleQuarantined(Akka.Remote.ThisActorSystemQuarantinedEvent quarantined)
    {
        Log.Quarantined(_log, quarantined.RemoteAddress.ToString());
        CoordinatedShutdown.Get(Context.System).Run(CoordinatedShutdown.ClusterDowningReason.Instance);
    }

    private void ReportReachable() => _metrics?.ReachableNodes(Reachable().Count());

    private IEnumerable<Address> Reachable() => _up.Where(node => !_unreachable.Contains(node));

    private void Lost(Address node, bool forget)
    {
        if (forget)
        {
            _up.Remove(node);
            _unreachable.Remove(node);
        }
        else
        {
            _unreachable.Add(node);
        }

        ReportReachable();

        foreach (var gather in Context.GetChildren())
        {
            gather.Tell(new NodeLost(node));
        }
    }

    private void Gather(object command, long bytes)
    {
        if (bytes > PeerMessageSerializer.MaxSerializedBytes)
        {
            Sender.Tell(new Status.Failure(new PeerMessageTooLargeException(bytes)));
            return;
        }

        var self = _cluster.SelfAddress;
        var targets = new Dictionary<Address, ICanTell> { [self] = Self };
        foreach (var node in Reachable())
        {
            if (!node.Equals(self))
            {
                targets[node] = PeerOn(node);
                _broadcastMessages++;
            }
        }

        _metrics?.PeerMessages("broadcast", targets.Count - 1);

        var missing = _up.Where(_unreachable.Contains).Select(static node => node.ToString());
        Context.ActorOf(ScatterGatherActor.Props(command, targets, sender => sender.Path.Address.HasLocalScope ? self : sender.Path.Address, Sender, _nodeTimeout, missing));
    }

    private void HandleRelay(Relay relay)
    {
        var bytes = PeerMessageSerializer.SizeOf(relay.Route.Message, null) + relay.Route.Targets.Sum(static t => (long)t.Length);
        if (bytes > PeerMessageSerializer.MaxSerializedBytes)
        {
            Log.RouteTooLarge(_log, bytes, PeerMessageSerializer.MaxMessageBytes);
            return;
        }

        var self = _cluster.SelfAddress;
        foreach (var node in Reachable())
        {
            if (!node.Equals(self))
            {
                PeerOn(node).Tell(relay.Route with { Relayed = true }, ActorRefs.NoSender);
                _relayedRoutes++;
                _metrics?.RoutesRelayed(1);
            }
        }
    }

    private ActorSelection PeerOn(Address node) => Context.ActorSelection(new RootActorPath(node) / "user" / "peers");

    private static partial class Log
    {
        [LoggerMessage(EventId = 1100, Level = LogLevel.Warning, Message = "Gateway node {Node} is unreachable: admin calls skip it until it is reachable again or downed")]
        public static partial void NodeUnreachable(ILogger logger, string node);

        [LoggerMessage(EventId = 1102, Level = LogLevel.Warning, Message = "Gateway node {Node} has quarantined this node (it was removed from the cluster): shutting down as a downed node")]
        public static partial void Quarantined(ILogger logger, string node);

        [LoggerMessage(EventId = 1101, Level = LogLevel.Warning, Message = "A jac event of {Bytes} bytes was delivered on this node only: over the {Max} bytes that may cross nodes")]
        public static partial void RouteTooLarge(ILogger logger, long bytes, long max);
    }
}
