using System.Collections.Concurrent;
using System.Net;
using Akka.Configuration;
using Akka.Discovery;
using Akka.Discovery.KubernetesApi;
using Gateway.Cluster;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Cluster;

/// <summary>
/// Discovery for Cluster Bootstrap. Akka.Discovery.KubernetesApi 1.5.73 was built against KubernetesClient 17, and
/// the feed serves 19 (and 21): one spec runs that combination against a fake API server (a real Kestrel on
/// loopback serving the pods list the plugin asks for, with a service account's token and namespace files) and
/// pins down that it fails, which is why the gateway discovers peers through DNS instead. When a release of the
/// plugin works with the served client, that spec fails, and the Kubernetes API can be used again. The seed lists
/// the gateway's own DNS discovery derives are specified here too.
/// </summary>
public sealed class ClusterDiscoverySpecs : TestKit, IAsyncLifetime
{
    private const string PodList = """
        {"apiVersion":"v1","kind":"PodList","metadata":{"resourceVersion":"1"},"items":[
          {"metadata":{"name":"myapp-0","namespace":"gw-ns","labels":{"app":"myapp"}},
           "spec":{"containers":[{"name":"app","image":"a"},{"name":"gateway","image":"g","ports":[{"name":"remoting","containerPort":4053},{"name":"management","containerPort":8558}]}]},
           "status":{"phase":"Running","podIP":"10.1.0.5","containerStatuses":[{"name":"gateway","ready":true,"restartCount":0,"image":"g","imageID":"g","state":{"running":{}}}]}},
          {"metadata":{"name":"myapp-1","namespace":"gw-ns","labels":{"app":"myapp"}},
           "spec":{"containers":[{"name":"gateway","image":"g","ports":[{"name":"management","containerPort":8558}]}]},
           "status":{"phase":"Running","podIP":"10.1.0.6","containerStatuses":[{"name":"gateway","ready":true,"restartCount":0,"image":"g","imageID":"g","state":{"running":{}}}]}},
          {"metadata":{"name":"myapp-2","namespace":"gw-ns","labels":{"app":"myapp"}},
           "spec":{"containers":[{"name":"gateway","image":"g","ports":[{"name":"management","containerPort":8558}]}]},
           "status":{"phase":"Pending"}}
        ]}
        """;

    private readonly string _dir = Directory.CreateTempSubdirectory("gateway-k8s-").FullName;
    private readonly string _hostVariable = "GATEWAY_SPEC_K8S_HOST_" + Guid.NewGuid().ToString("N");
    private readonly string _portVariable = "GATEWAY_SPEC_K8S_PORT_" + Guid.NewGuid().ToString("N");
    private readonly ConcurrentQueue<(string Path, string Query, string Authorization)> _requests = new();
    private readonly List<ActorSystem> _systems = [];
    private WebApplication? _apiServer;

    public ClusterDiscoverySpecs()
        : base(SpecConfig.Akka)
    {
    }

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder(["--urls", "http://127.0.0.1:0"]);
        _apiServer = builder.Build();
        _apiServer.MapGet("/api/v1/namespaces/{ns}/pods", (HttpContext context) =>
        {
            _requests.Enqueue((context.Request.Path, context.Request.QueryString.Value ?? string.Empty, context.Request.Headers.Authorization.ToString()));
            return Results.Text(PodList, "application/json");
        });
        await _apiServer.StartAsync();
        var address = new Uri(_apiServer.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        Environment.SetEnvironmentVariable(_hostVariable, "http://127.0.0.1");
        Environment.SetEnvironmentVariable(_portVariable, address.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await File.WriteAllTextAsync(Path.Combine(_dir, "token"), "spec-token");
        await File.WriteAllTextAsync(Path.Combine(_dir, "namespace"), "gw-ns");
    }

    async Task IAsyncLifetime.DisposeAsync()
    {
        Environment.SetEnvironmentVariable(_hostVariable, null);
        Environment.SetEnvironmentVariable(_portVariable, null);
        if (_apiServer is not null)
        {
            await _apiServer.DisposeAsync();
        }

        foreach (var system in _systems)
        {
            await system.Terminate();
        }

        Directory.Delete(_dir, recursive: true);
    }

    private ActorSystem Own(ActorSystem system)
    {
        _systems.Add(system);
        return system;
    }

    [Fact]
    public async Task Kubernetes_api_discovery_does_not_work_with_the_served_KubernetesClient()
    {
        var discovery = LoadKubernetesDiscovery();

        // Loading works; the first lookup calls a KubernetesClient 17 constructor that 19 no longer has.
        var failure = await Assert.ThrowsAnyAsync<Exception>(() => discovery.Lookup(new Lookup("myapp", "management", "tcp"), TimeSpan.FromSeconds(20)));

        Assert.IsType<MissingMethodException>(failure);
        Assert.Contains("k8s.Models.V1PodList", failure.Message, StringComparison.Ordinal);
        Assert.Empty(_requests);
    }

    [Fact]
    public void From_dns_the_lowest_address_lists_itself_first_and_the_others_list_only_their_peers()
    {
        var a = Node("10.1.0.5");
        var b = Node("10.1.0.6");
        IPAddress[] both = [IPAddress.Parse("10.1.0.6"), IPAddress.Parse("10.1.0.5"), IPAddress.Parse("10.1.0.5")];

        Assert.Equal([a, b], SeedDiscoveryActor.SeedsFor(a, both, required: 2));
        Assert.Equal([a], SeedDiscoveryActor.SeedsFor(b, both, required: 2));
    }

    [Fact]
    public void From_dns_a_node_waits_for_enough_pods_and_never_forms_a_cluster_unless_it_is_the_lowest_listed()
    {
        var a = Node("10.1.0.5");
        var b = Node("10.1.0.6");

        Assert.Null(SeedDiscoveryActor.SeedsFor(a, [IPAddress.Parse("10.1.0.5")], required: 2));
        Assert.Equal([a], SeedDiscoveryActor.SeedsFor(a, [IPAddress.Parse("10.1.0.5")], required: 1));

        // Not (yet) in DNS itself: it may join the pods it sees, never form its own cluster, even though it is lower.
        Assert.Equal([a], SeedDiscoveryActor.SeedsFor(Node("10.1.0.4"), [IPAddress.Parse("10.1.0.5")], required: 1));
        Assert.Null(SeedDiscoveryActor.SeedsFor(b, [], required: 1));
    }

    [Fact]
    public async Task From_dns_a_pod_that_sees_only_itself_forms_a_cluster_only_after_the_answer_has_settled()
    {
        // Pods that start together may each see only their own record at first; each forming alone would split.
        var system = Own(ActorSystem.Create("alone", ConfigurationFactory.ParseString("""
            akka.actor.provider = cluster
            akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
            """)));
        var self = Node("127.0.0.1");
        var answers = 0;
        var joined = new TaskCompletionSource<(int Answers, IReadOnlyList<Address> Seeds)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var options = new GatewayClusterOptions { ServiceName = "gateway", RequiredContactPoints = 1 };
        system.ActorOf(SeedDiscoveryActor.Props(
            options,
            self,
            (_, _) =>
            {
                Interlocked.Increment(ref answers);
                return Task.FromResult<IPAddress[]>([IPAddress.Parse("127.0.0.1")]);
            },
            seeds => joined.TrySetResult((Volatile.Read(ref answers), seeds)),
            NullLogger<SeedDiscoveryActor>.Instance));

        var (answersWhenJoined, seeds) = await joined.Task.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.True(answersWhenJoined >= SeedDiscoveryActor.AloneAnswersToForm, $"formed alone after {answersWhenJoined} answers");
        Assert.Equal([self], seeds);
    }

    private static Address Node(string host) => new("akka.tcp", "gateway", host, 4053);

    private ServiceDiscovery LoadKubernetesDiscovery()
    {
        var system = Own(ActorSystem.Create("k8s", ConfigurationFactory.ParseString($$"""
            akka.discovery.kubernetes-api {
              api-token-path = "{{Path.Combine(_dir, "token")}}"
              api-ca-path = "{{Path.Combine(_dir, "ca.crt")}}"
              pod-namespace-path = "{{Path.Combine(_dir, "namespace")}}"
              api-service-host-env-name = {{_hostVariable}}
              api-service-port-env-name = {{_portVariable}}
              pod-label-selector = "app={0}"
              use-raw-ip = true
            }
            """).WithFallback(KubernetesDiscovery.DefaultConfiguration())));
        return Discovery.Get(system).LoadServiceDiscovery("kubernetes-api");
    }
}
