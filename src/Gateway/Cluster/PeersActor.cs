using Akka.Actor;
using Akka.Cluster;
using Akka.DistributedData;
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
/// A send or close by conn ids goes to the nodes their tags name (<see cref="NodeTag"/>); by users or channels,
/// to the nodes the <see cref="OwnerDirectory"/> says hold them, read from this node's replica at the time of the
/// call (<see cref="OwnerDirectory.Decide"/>); anything else, or any doubt, to every reachable node.
/// </summary>
public sealed partial class PeersActor : ReceiveActor, IWithTimers
{
    private readonly IActorRef _registry;
    private readonly TimeSpan _nodeTimeout;
    private readonly ILogger _log;
    private readonly GatewayMetrics? _metrics;
    private readonly Akka.Cluster.Cluster _cluster;
    private readonly HashSet<Address> _up = [];
    private readonly HashSet<Address> _unreachable = [];
    private readonly Dictionary<Address, UniqueAddress> _unique = [];

    // Each Up node's tag (NodeTag.Of), computed once when it comes Up rather than on every routed call.
    private readonly Dictionary<Address, string> _tags = [];
    private readonly IActorRef? _replicator;
    private readonly TimeSpan _warmup;
    private readonly Dictionary<long, Lookup> _lookups = [];
    private long _nextLookup;
    private bool _routing;
    private long _broadcastMessages;
    private long _routedMessages;
    private long _relayedRoutes;

    /// <param name="registry">This node's <see cref="RegistryActor"/>.</param>
    /// <param name="nodeTimeout">How long a gather waits for a node (<see cref="GatewayClusterOptions.NodeTimeout"/>).</param>
    /// <param name="log">Where it logs.</param>
    /// <param name="metrics">Counts peer messages by routing, relayed routes and reachable nodes; none when null.</param>
    /// <param name="replicator">The Akka.DistributedData replicator the directory is read from; null: every call is broadcast.</param>
    /// <param name="warmup">How long after this node is <c>Up</c> it broadcasts before routing by the directory (<see cref="GatewayClusterOptions.DirectoryWarmup"/>).</param>
    internal PeersActor(IActorRef registry, TimeSpan nodeTimeout, ILogger<PeersActor> log, GatewayMetrics? metrics = null, IActorRef? replicator = null, TimeSpan warmup = default)
    {
        _replicator = replicator;
        _warmup = warmup;
        _registry = registry;
        _nodeTimeout = nodeTimeout;
        _log = log;
        _metrics = metrics;
        _cluster = Akka.Cluster.Cluster.Get(Context.System);

        Receive<ClusterEvent.MemberUp>(up =>
        {
            _up.Add(up.Member.Address);
            _unique[up.Member.Address] = up.Member.UniqueAddress;
            _tags[up.Member.Address] = NodeTag.Of(up.Member.Address);
            if (up.Member.Address.Equals(_cluster.SelfAddress) && _replicator is not null)
            {
                Timers.StartSingleTimer(WarmedUp.Instance, WarmedUp.Instance, _warmup);
            }

            ReportReachable();
        });
        Receive<WarmedUp>(_ => _routing = true);
        Receive<GetSuccess>(found => LookedUp(found.Request, found.Key, found.Data as ORSet<string>));
        Receive<NotFound>(notFound => LookedUp(notFound.Request, notFound.Key, null));
        Receive<IGetResponse>(failed => LookedUp(failed.Request, failed.Key, null));
        Receive<ClusterEvent.MemberRemoved>(removed => Lost(removed.Member.Address, forget: true));

        // A node leaves only after its drain (the cluster-leave phase follows the phases that close its sockets): it
        // holds no connection, so it is neither asked nor reported missing once it has said so, even if it exits
        // before this node hears of its removal.
        Receive<ClusterEvent.MemberLeft>(left => Left(left.Member.Address));
        Receive<ClusterEvent.MemberExited>(exited => Left(exited.Member.Address));
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
        Receive<ClusterSend>(send => Route(new RegistryProtocol.SendToConnections(send.Filter, send.Message), send.Filter, PeerMessageSerializer.SizeOf(send.Message, send.Filter)));
        Receive<ClusterClose>(close => Route(new RegistryProtocol.CloseConnections(close.Filter, close.Code, close.Reason), close.Filter, 0));
        Receive<ClusterList>(_ => Gather(RegistryProtocol.GetConnections.Instance, 0, Sender, null));
        Receive<Relay>(HandleRelay);
        Receive<GetPeerStats>(_ => Sender.Tell(new PeerStats(Reachable().Count(), _broadcastMessages, _relayedRoutes, _routedMessages)));

        // From a gather (on any node): run it on this node's sockets; the registry answers the gather directly.
        Receive<RegistryProtocol.SendToConnections>(command => _registry.Forward(command));
        Receive<RegistryProtocol.CloseConnections>(command => _registry.Forward(command));
        Receive<RegistryProtocol.GetConnections>(command => _registry.Forward(command));
        Receive<RegistryProtocol.Route>(route => _registry.Forward(route with { Relayed = true }));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>The peers actor's props; one per node, named <c>peers</c>.</summary>
    internal static Props Props(IActorRef registry, TimeSpan nodeTimeout, ILogger<PeersActor> log, GatewayMetrics? metrics = null, IActorRef? replicator = null, TimeSpan warmup = default) =>
        ActorFactory<PeersActor>.Props(() => new PeersActor(registry, nodeTimeout, log, metrics, replicator, warmup));

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
            Forget(node);
        }
        else
        {
            _unreachable.Add(node);
        }

        ReportReachable();
        TellGathers(new NodeLost(node));
    }

    /// <summary>A node began to leave (after its drain, so with no connection): no longer asked, and never missing.</summary>
    private void Left(Address node)
    {
        if (!_up.Contains(node))
        {
            return;
        }

        Forget(node);
        ReportReachable();
        if (!node.Equals(_cluster.SelfAddress))
        {
            // This node's own gathers still get its own (empty) answer.
            TellGathers(new NodeLeft(node));
        }
    }

    /// <summary>Tells every gather in flight (this actor's children).</summary>
    private void TellGathers(object message)
    {
        foreach (var gather in Context.GetChildren())
        {
            gather.Tell(message);
        }
    }

    private void Forget(Address node)
    {
        _up.Remove(node);
        _unique.Remove(node);
        _tags.Remove(node);
        _unreachable.Remove(node);
    }

    /// <summary>
    /// A send or close: by tag or by directory when this node may route (warmed up, a replicator), else to every
    /// reachable node. A directory lookup reads each target node's buckets from the local replica first.
    /// </summary>
    private void Route(object command, RegistryProtocol.TargetFilter filter, long bytes)
    {
        var plan = _replicator is null ? OwnerDirectory.Plan.Broadcast : OwnerDirectory.PlanFor(filter);
        if (plan.Kind == OwnerDirectory.PlanKind.ByDirectory && !_routing)
        {
            // Warming up: this replica may still lack entries a peer wrote before it saw this node join.
            plan = OwnerDirectory.Plan.Broadcast;
        }

        switch (plan.Kind)
        {
            case OwnerDirectory.PlanKind.ByTag:
                Gather(command, bytes, Sender, OwnerDirectory.Decide(plan, filter, SelfWithTag(), OthersWithTags(), static (_, _) => null));
                return;
            case OwnerDirectory.PlanKind.ByDirectory:
                var nodes = Reachable().Where(_unique.ContainsKey).ToList();
                if (!nodes.Contains(_cluster.SelfAddress))
                {
                    nodes.Add(_cluster.SelfAddress);
                    _unique[_cluster.SelfAddress] = _cluster.SelfUniqueAddress;
                }

                var buckets = plan.Entries.Select(OwnerDirectory.BucketOf).Distinct().ToList();
                var id = ++_nextLookup;
                var lookup = new Lookup(command, filter, bytes, Sender, plan, nodes.Count * buckets.Count);
                _lookups[id] = lookup;
                foreach (var node in nodes)
                {
                    foreach (var bucket in buckets)
                    {
                        var key = OwnerDirectory.KeyOf(_unique[node], bucket);
                        lookup.Keys[key.Id] = (node, bucket);
                        _replicator!.Tell(Dsl.Get(key, ReadLocal.Instance, id));
                    }
                }

                return;
            default:
                Gather(command, bytes, Sender, null);
                return;
        }
    }

    private void LookedUp(object? request, IKey key, ORSet<string>? bucket)
    {
        if (request is not long id || !_lookups.TryGetValue(id, out var lookup) || !lookup.Keys.TryGetValue(key.Id, out var at))
        {
            return;
        }

        lookup.Buckets[at] = bucket;
        if (lookup.Buckets.Count < lookup.Expected)
        {
            return;
        }

        _lookups.Remove(id);
        var targets = OwnerDirectory.Decide(lookup.Plan, lookup.Filter, SelfWithTag(), OthersWithTags(), (node, entry) =>
            lookup.Buckets.TryGetValue((node, OwnerDirectory.BucketOf(entry)), out var held) ? OwnerDirectory.Holds(held, entry) : null);
        Gather(lookup.Command, lookup.Bytes, lookup.ReplyTo, targets);
    }

    private (Address Node, string Tag) SelfWithTag() => (_cluster.SelfAddress, TagOf(_cluster.SelfAddress));

    private List<(Address Node, string Tag)> OthersWithTags() =>
        [.. Reachable().Where(node => !node.Equals(_cluster.SelfAddress)).Select(node => (node, TagOf(node)))];

    private string TagOf(Address node) => _tags.TryGetValue(node, out var tag) ? tag : NodeTag.Of(node);

    /// <summary>Runs <paramref name="command"/> on <paramref name="only"/> (routed), or on every reachable node when null (broadcast).</summary>
    private void Gather(object command, long bytes, IActorRef replyTo, IReadOnlySet<Address>? only)
    {
        if (bytes > PeerMessageSerializer.MaxSerializedBytes)
        {
            replyTo.Tell(new Status.Failure(new PeerMessageTooLargeException(bytes)));
            return;
        }

        var self = _cluster.SelfAddress;
        var targets = new Dictionary<Address, ICanTell> { [self] = Self };
        foreach (var node in Reachable())
        {
            if (!node.Equals(self) && (only is null || only.Contains(node)))
            {
                targets[node] = PeerOn(node);
            }
        }

        var messages = targets.Count - 1;
        if (only is null)
        {
            _broadcastMessages += messages;
            _metrics?.PeerMessages("broadcast", messages);
        }
        else
        {
            _routedMessages += messages;
            _metrics?.PeerMessages("routed", messages);
        }

        // Only a list reports missing nodes; a routed call does not wait on nodes it does not need.
        // Materialized here: the gather is constructed on another thread, while this actor goes on changing the sets.
        var missing = _up.Where(_unreachable.Contains).Select(static node => node.ToString()).ToList();
        Context.ActorOf(ScatterGatherActor.Props(command, targets, sender => sender.Path.Address.HasLocalScope ? self : sender.Path.Address, replyTo, _nodeTimeout, missing));
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

    /// <summary>A directory lookup in progress: the call, and each (node, bucket) read so far (null: not in the replica).</summary>
    private sealed class Lookup(object command, RegistryProtocol.TargetFilter filter, long bytes, IActorRef replyTo, OwnerDirectory.Plan plan, int expected)
    {
        public object Command { get; } = command;

        public RegistryProtocol.TargetFilter Filter { get; } = filter;

        public long Bytes { get; } = bytes;

        public IActorRef ReplyTo { get; } = replyTo;

        public OwnerDirectory.Plan Plan { get; } = plan;

        public int Expected { get; } = expected;

        public Dictionary<string, (Address Node, int Bucket)> Keys { get; } = new(StringComparer.Ordinal);

        public Dictionary<(Address Node, int Bucket), ORSet<string>?> Buckets { get; } = [];
    }

    private sealed class WarmedUp
    {
        public static readonly WarmedUp Instance = new();
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
