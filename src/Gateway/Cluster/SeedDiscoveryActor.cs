using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Cluster;
using Gateway.Hosting;

namespace Gateway.Cluster;

/// <summary>
/// Finds the seed nodes in DNS (<see cref="ClusterDiscovery.Kubernetes"/> mode; <c>/user/seed-discovery</c>): every
/// <see cref="Interval"/> until this node is <c>Up</c>, it resolves <see cref="GatewayClusterOptions.ServiceName"/>
/// (a headless Service with <c>publishNotReadyAddresses</c>: one A record per pod, ready or not) and joins the pods
/// it names, on this node's remoting port, through Akka's own seed-node process. Only the lowest address may form a
/// new cluster (it is listed first, so Akka asks the others first and forms one alone only when nobody answers);
/// every other node lists only its peers, so it can only join, and two nodes that see different records cannot
/// both form one. Nothing is joined until <see cref="GatewayClusterOptions.RequiredContactPoints"/> pods are seen.
/// </summary>
public sealed partial class SeedDiscoveryActor : ReceiveActor, IWithTimers
{
    /// <summary>How often the name is resolved again until this node is <c>Up</c>.</summary>
    internal static readonly TimeSpan Interval = TimeSpan.FromSeconds(2);

    private readonly string _serviceName;
    private readonly int _requiredContactPoints;
    private readonly Func<string, CancellationToken, Task<IPAddress[]>> _resolve;
    private readonly Action<IReadOnlyList<Address>> _join;
    private readonly ILogger _log;
    private readonly Address _self;
    private IReadOnlyList<Address> _joined = [];
    private int _aloneAnswers;

    /// <summary>
    /// How many answers in a row must name this pod alone before it forms a cluster by itself: pods that start
    /// together may each see only their own record at first (DNS lags), and each would form its own cluster.
    /// </summary>
    internal const int AloneAnswersToForm = 3;

    /// <param name="options">The service name and the contact points required.</param>
    /// <param name="self">This node's address (its host is the pod IP its A record carries).</param>
    /// <param name="resolve">DNS resolution (<see cref="Dns.GetHostAddressesAsync(string, CancellationToken)"/>).</param>
    /// <param name="join">Starts Akka's seed-node process with a list (<see cref="Akka.Cluster.Cluster.JoinSeedNodes"/>).</param>
    /// <param name="log">Where it logs.</param>
    internal SeedDiscoveryActor(GatewayClusterOptions options, Address self, Func<string, CancellationToken, Task<IPAddress[]>> resolve, Action<IReadOnlyList<Address>> join, ILogger<SeedDiscoveryActor> log)
    {
        _serviceName = options.ServiceName;
        _requiredContactPoints = Math.Max(1, options.RequiredContactPoints);
        _self = self;
        _resolve = resolve;
        _join = join;
        _log = log;

        Receive<Tick>(_ => Resolve());
        Receive<Resolved>(HandleResolved);
        Receive<ClusterEvent.MemberUp>(up =>
        {
            if (up.Member.Address.Equals(_self))
            {
                Context.Stop(Self);
            }
        });
        Receive<ClusterEvent.IMemberEvent>(_ => { });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>The actor's props; one per node in DNS discovery mode.</summary>
    internal static Props Props(GatewayClusterOptions options, Address self, Func<string, CancellationToken, Task<IPAddress[]>> resolve, Action<IReadOnlyList<Address>> join, ILogger<SeedDiscoveryActor> log) =>
        ActorFactory<SeedDiscoveryActor>.Props(() => new SeedDiscoveryActor(options, self, resolve, join, log));

    /// <summary>
    /// The seed list for what DNS returned, or null to wait: fewer than <paramref name="required"/> pods, or
    /// nobody else to join and this node not allowed to form. The lowest address (host, ordinal) lists itself first
    /// and may form a cluster; any other node lists only the others.
    /// </summary>
    public static IReadOnlyList<Address>? SeedsFor(Address self, IEnumerable<IPAddress> discovered, int required)
    {
        var seeds = discovered
            .Where(static a => a.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6)
            .Select(a => new Address(self.Protocol, self.System, a.ToString(), self.Port))
            .Distinct()
            .OrderBy(static a => a.Host, StringComparer.Ordinal)
            .ToList();
        if (seeds.Count < required)
        {
            return null;
        }

        if (seeds[0].Equals(self))
        {
            return seeds;
        }

        seeds.Remove(self);
        return seeds.Count == 0 ? null : seeds;
    }

    protected override void PreStart()
    {
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.IMemberEvent));
        Self.Tell(Tick.Instance);
    }

    protected override void PostStop() => Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);

    private void Resolve()
    {
        var resolve = _resolve;
        var name = _serviceName;
        Task.Run(async () =>
        {
            using var timeout = new CancellationTokenSource(Interval);
            try
            {
                return new Resolved(await resolve(name, timeout.Token).ConfigureAwait(false), null);
            }
            catch (Exception exception)
            {
                // Any failure (no such name, a timeout, a malformed name) is "nothing resolved": keep trying, or
                // discovery would stop for good and this node never join.
                return new Resolved([], exception.Message);
            }
        }).PipeTo(Self);
    }

    private void HandleResolved(Resolved resolved)
    {
        Timers.StartSingleTimer(Tick.Instance, Tick.Instance, Interval);
        var seeds = SeedsFor(_self, resolved.Addresses, _requiredContactPoints);
        if (seeds is null)
        {
            Log.Waiting(_log, _serviceName, resolved.Addresses.Length, _requiredContactPoints, resolved.Error ?? "too few peers");
            return;
        }

        _aloneAnswers = seeds.Count == 1 && seeds[0].Equals(_self) ? _aloneAnswers + 1 : 0;
        if (_aloneAnswers is > 0 and < AloneAnswersToForm)
        {
            Log.Waiting(_log, _serviceName, resolved.Addresses.Length, _requiredContactPoints, "only this pod so far; waiting for the records to settle");
            return;
        }

        if (!seeds.SequenceEqual(_joined))
        {
            _joined = seeds;
            Log.Joining(_log, _serviceName, string.Join(", ", seeds));
            _join(seeds);
        }
    }

    private sealed record Resolved(IPAddress[] Addresses, string? Error);

    private sealed class Tick
    {
        public static readonly Tick Instance = new();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1120, Level = LogLevel.Information, Message = "Cluster discovery: {Service} resolves to {Count} pods, {Required} needed ({Reason}); trying again")]
        public static partial void Waiting(ILogger logger, string service, int count, int required, string reason);

        [LoggerMessage(EventId = 1121, Level = LogLevel.Information, Message = "Cluster discovery: {Service} gives the seed nodes {Seeds}; joining")]
        public static partial void Joining(ILogger logger, string service, string seeds);
    }
}
