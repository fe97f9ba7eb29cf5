using System.Globalization;
using System.Net;
using Akka.Actor;
using Akka.Cluster.Hosting;
using Akka.Cluster.Hosting.SBR;
using Akka.DistributedData;
using Akka.Hosting;
using Akka.Remote.Hosting;
using Gateway.Hosting;
using Gateway.Registry;

namespace Gateway.Cluster;

/// <summary>
/// Whether this node may take traffic as far as the cluster is concerned: always with clustering off; with
/// it on, from the moment this node is <c>Up</c> until it is removed (read by <c>/readyz</c>).
/// </summary>
public sealed class ClusterMembership(bool enabled)
{
    private volatile bool _up;

    /// <summary>True when clustering is on.</summary>
    public bool Enabled { get; } = enabled;

    /// <summary>True with clustering off, else while this node is an <c>Up</c> member.</summary>
    public bool IsUp => !Enabled || _up;

    /// <summary>
    /// This node's <see cref="Cluster.NodeTag"/>, which the connection ids it makes carry; null with clustering off
    /// (ids are then plain) and until the actor system has started.
    /// </summary>
    public string? NodeTag { get; internal set; }

    internal void MarkUp() => _up = true;

    internal void MarkRemoved() => _up = false;
}

/// <summary>Joins the actor system to a cluster of gateways when <see cref="GatewayClusterOptions.Enabled"/>.</summary>
internal static class ClusterHosting
{
    /// <summary>
    /// With clustering on: Akka.Remote on <see cref="GatewayClusterOptions.Hostname"/>:<see cref="GatewayClusterOptions.Port"/>
    /// with a frame size that fits any admin call, Akka.Cluster with the configured seeds and the keep-majority
    /// split-brain resolver, the explicit peer serializer (and no reflection fallback), and the
    /// <see cref="PeersActor"/> at <c>/user/peers</c>, which the registry relays jac routes through. With it off,
    /// nothing: no remoting, no port. Call after <see cref="RegistryActorHosting.AddRegistryActor"/>.
    /// </summary>
    public static AkkaConfigurationBuilder AddGatewayCluster(this AkkaConfigurationBuilder builder, GatewayClusterOptions options, ClusterMembership membership)
    {
        if (!options.Enabled)
        {
            return builder;
        }

        var frame = (int)(PeerMessageSerializer.MaxMessageBytes + PeerMessageSerializer.FrameHeadroom);
        builder
            .WithRemoting(new RemoteOptions
            {
                HostName = string.IsNullOrEmpty(options.BindHostname) ? options.Hostname : options.BindHostname,
                PublicHostName = options.Hostname,
                Port = options.Port,
                MaxFrameSize = frame,
                SendBufferSize = frame,
                ReceiveBufferSize = frame,
            })
            .WithClustering(new ClusterOptions
            {
                SeedNodes = options.Discovery == ClusterDiscovery.Seeds ? options.SeedNodes : [],
                SplitBrainResolver = new KeepMajorityOption(),
            })
            .AddHocon(Config(options), HoconAddMode.Prepend)
            .AddHocon(DistributedData.DefaultConfig(), HoconAddMode.Append)
            .WithActors((system, registry, resolver) =>
            {
                var cluster = Akka.Cluster.Cluster.Get(system);
                membership.NodeTag = Cluster.NodeTag.Of(cluster.SelfAddress);
                cluster.RegisterOnMemberUp(membership.MarkUp);
                cluster.RegisterOnMemberRemoved(membership.MarkRemoved);
                var registryActor = registry.Get<RegistryActor>();
                var replicator = DistributedData.Get(system).Replicator;
                var directory = system.ActorOf(DirectoryActor.Props(replicator, cluster.SelfUniqueAddress, options.NodeTimeout, resolver.GetService<ILogger<DirectoryActor>>()), "directory");
                var peers = system.ActorOf(PeersActor.Props(registryActor, options.NodeTimeout, resolver.GetService<ILogger<PeersActor>>(), resolver.GetService<GatewayMetrics>(), replicator, options.DirectoryWarmup), "peers");
                registry.Register<PeersActor>(peers);
                registryActor.Tell(new RegistryProtocol.UsePeers(peers, directory));
                if (options.Discovery != ClusterDiscovery.Seeds)
                {
                    system.ActorOf(
                        SeedDiscoveryActor.Props(options, cluster.SelfAddress, Dns.GetHostAddressesAsync, seeds => cluster.JoinSeedNodes(seeds), resolver.GetService<ILogger<SeedDiscoveryActor>>()),
                        "seed-discovery");
                }
            });
        return builder;
    }

    /// <summary>Serialization, split-brain resolver timing, failure detector and downing behaviour.</summary>
    internal static string Config(GatewayClusterOptions options)
    {
        var peer = typeof(PeerMessageSerializer).AssemblyQualifiedName;
        var strict = typeof(NoFallbackSerializer).AssemblyQualifiedName;
        return $$"""
            akka.actor {
              serializers {
                gateway-peer = "{{peer}}"
                gateway-strict = "{{strict}}"
              }
              serialization-bindings {
                "System.Object" = gateway-strict
                "{{Binding<RegistryProtocol.SendToConnections>()}}" = gateway-peer
                "{{Binding<RegistryProtocol.CloseConnections>()}}" = gateway-peer
                "{{Binding<RegistryProtocol.GetConnections>()}}" = gateway-peer
                "{{Binding<RegistryProtocol.Route>()}}" = gateway-peer
                "{{Binding<RegistryProtocol.DeliveryReceipt>()}}" = gateway-peer
                "{{Binding<RegistryProtocol.ConnectionsClosed>()}}" = gateway-peer
                "{{Binding<RegistryProtocol.ConnectionList>()}}" = gateway-peer
              }
              serialization-identifiers {
                "{{peer}}" = {{PeerMessageSerializer.Id}}
                "{{strict}}" = {{NoFallbackSerializer.Id}}
              }
            }
            akka.cluster {
              run-coordinated-shutdown-when-down = on
              split-brain-resolver {
                active-strategy = keep-majority
                stable-after = {{Millis(options.DownAfter)}}
                down-all-when-unstable = on
              }
              failure-detector.acceptable-heartbeat-pause = {{Millis(options.AcceptableHeartbeatPause)}}
            }
            """;
    }

    private static string Binding<T>() => typeof(T).FullName + ", " + typeof(T).Assembly.GetName().Name;

    private static string Millis(TimeSpan span) => span.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture) + "ms";
}
