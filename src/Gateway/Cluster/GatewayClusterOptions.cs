using System.ComponentModel.DataAnnotations;

namespace Gateway.Cluster;

/// <summary>
/// Configuration section <c>Gateway:Cluster</c>: several gateway replicas joined into one Akka.Cluster, so
/// an admin call on any of them reaches the sockets of all (see <c>docs/cluster.md</c>). Off by default: a
/// single process opens no remoting port and behaves exactly as without this section.
/// </summary>
public sealed class GatewayClusterOptions
{
    /// <summary>Join a cluster of gateways. Default false.</summary>
    public bool Enabled { get; set; }

    /// <summary>
    /// The address peers connect to, and the one remoting binds: the pod IP in Kubernetes
    /// (<c>status.podIP</c> through the downward API). Default <c>127.0.0.1</c>.
    /// </summary>
    public string Hostname { get; set; } = "127.0.0.1";

    /// <summary>
    /// The address remoting listens on, when it differs from <see cref="Hostname"/> (e.g. <c>0.0.0.0</c> while
    /// peers use a pod DNS name). Default: <see cref="Hostname"/>.
    /// </summary>
    public string? BindHostname { get; set; }

    /// <summary>The remoting (Akka.Remote, TCP) port. Default 4053.</summary>
    [Range(0, 65535)]
    public int Port { get; set; } = 4053;

    /// <summary>
    /// Seed nodes, as <c>akka.tcp://gateway@host:port</c> (env <c>Gateway__Cluster__SeedNodes__0</c>,
    /// <c>__1</c>, …). The first seed that lists itself first forms the cluster. Empty: the node waits for
    /// a seed (or a manual join) and never becomes ready.
    /// </summary>
    public string[] SeedNodes { get; set; } = [];

    /// <summary>
    /// How long a cluster-wide admin call waits for a node's answer before leaving that node out (a
    /// <c>list</c> then names it in <c>missing_nodes</c>). Unreachable nodes are skipped at once. Default 3 s.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "24.00:00:00")]
    public TimeSpan NodeTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>
    /// The split-brain resolver's <c>stable-after</c>: how long the set of unreachable nodes must stay
    /// unchanged before the keep-majority side downs the other. Default 15 s (Akka's own default is 20 s).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "24.00:00:00")]
    public TimeSpan DownAfter { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Failure detector: heartbeat silence tolerated before a node is marked unreachable (Akka's
    /// <c>acceptable-heartbeat-pause</c>). Default 3 s, Akka's default.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "24.00:00:00")]
    public TimeSpan AcceptableHeartbeatPause { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>
    /// How long after this node is <c>Up</c> it sends every call to every node before routing sends and closes by
    /// the replicated directory (users, channels): long enough for its replica to receive what its peers wrote
    /// before they saw it join (a few gossip rounds of 2 s). Conn ids are routed by their tag from the start.
    /// Default 5 s.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "24.00:00:00")]
    public TimeSpan DirectoryWarmup { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How this node finds its peers: <see cref="ClusterDiscovery.Seeds"/> (the default: <see cref="SeedNodes"/>) or
    /// <see cref="ClusterDiscovery.Kubernetes"/> (also spelled <c>Dns</c>): the seed nodes are the pods the DNS name
    /// <see cref="ServiceName"/> (a headless Service) resolves to, on <see cref="Port"/> (<see cref="SeedDiscoveryActor"/>).
    /// In that mode <see cref="SeedNodes"/> is ignored, and <see cref="Hostname"/> must be the pod IP.
    /// </summary>
    public ClusterDiscovery Discovery { get; set; } = ClusterDiscovery.Seeds;

    /// <summary>
    /// Discovery mode: the headless Service's DNS name that resolves to every gateway pod (e.g.
    /// <c>myapp-gateway-peers</c>, or <c>myapp-gateway-peers.myns.svc.cluster.local</c>). Default <c>gateway</c>.
    /// </summary>
    public string ServiceName { get; set; } = "gateway";

    /// <summary>
    /// Discovery mode: how many pods the name must resolve to before this node joins; only the lowest address ever
    /// forms a new cluster, the others join it. Default 1 (a single replica forms its own cluster); set it to the
    /// replica count to keep pods of a fresh rollout from starting on partial DNS answers.
    /// </summary>
    [Range(1, int.MaxValue)]
    public int RequiredContactPoints { get; set; } = 1;
}

/// <summary>How a gateway finds its peers (<see cref="GatewayClusterOptions.Discovery"/>).</summary>
public enum ClusterDiscovery
{
    /// <summary>The configured <see cref="GatewayClusterOptions.SeedNodes"/>.</summary>
    Seeds,

    /// <summary>
    /// The DNS records of a headless Service (no RBAC). Named for where it is meant to run; it does not read the
    /// Kubernetes API: Akka.Discovery.KubernetesApi and Akka.Management fail with the packages the feed serves
    /// (docs/cluster.md).
    /// </summary>
    Kubernetes,

    /// <summary>The same as <see cref="Kubernetes"/>, for any DNS name that resolves to every peer.</summary>
    Dns = Kubernetes,
}
