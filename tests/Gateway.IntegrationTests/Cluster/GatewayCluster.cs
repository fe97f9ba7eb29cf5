using System.Globalization;
using System.Net;
using System.Text.Json;
using Gateway.IntegrationTests.Infrastructure;
using Gateway.IntegrationTests.Jac;

namespace Gateway.IntegrationTests.Cluster;

/// <summary>One gateway process of a cluster and the recording app beside it (its sidecar's app).</summary>
public sealed class ClusterNode(int index, GatewayProcess gateway, AppServer app, int remotingPort) : IAsyncDisposable
{
    public int Index { get; } = index;

    public GatewayProcess Gateway { get; } = gateway;

    public AppServer App { get; } = app;

    public int RemotingPort { get; } = remotingPort;

    /// <summary>The node's cluster address, as the <c>node</c> field of a list names it.</summary>
    public string Address => string.Create(CultureInfo.InvariantCulture, $"akka.tcp://gateway@127.0.0.1:{RemotingPort}");

    public async ValueTask DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await App.DisposeAsync();
    }

    public override string ToString() => $"node {Index} ({Address})";
}

/// <summary>
/// Real gateway processes on loopback joined into one cluster: free ports, node 1 the only seed, each node
/// with its own <see cref="AppServer"/>. The split-brain resolver acts after <see cref="DownAfter"/> so a
/// killed node leaves quickly; every process is killed on dispose, and every node's log is written to the
/// test output.
/// </summary>
public sealed class GatewayCluster(ITestOutputHelper? output, Action<GatewayProcessOptions>? configure = null) : IAsyncDisposable
{
    /// <summary>The split-brain resolver's stable-after in these tests (the default is 15 s).</summary>
    public static readonly TimeSpan DownAfter = TimeSpan.FromSeconds(3);

    private readonly List<ClusterNode> _all = [];
    private int _seedPort;

    /// <summary>The nodes started so far that are still meant to run, in start order.</summary>
    public List<ClusterNode> Nodes { get; } = [];

    public ClusterNode this[int index] => Nodes[index];

    /// <summary>
    /// Starts <paramref name="count"/> nodes, each with <paramref name="configure"/>'s settings on top of the cluster
    /// ones, and waits until every one is ready (<c>Up</c>) and sees them all.
    /// </summary>
    public static async Task<GatewayCluster> StartAsync(ITestOutputHelper? output, int count = 3, Action<GatewayProcessOptions>? configure = null)
    {
        var cluster = new GatewayCluster(output, configure);
        try
        {
            for (var i = 0; i < count; i++)
            {
                await cluster.AddNodeAsync();
            }

            await cluster.WaitUntilConvergedAsync();
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts one more node (seeded by node 1) and waits until it is ready.</summary>
    public async Task<ClusterNode> AddNodeAsync()
    {
        var app = await AppServer.StartAsync();
        var remoting = GatewayProcess.GetFreePort();
        if (_seedPort == 0)
        {
            _seedPort = remoting;
        }

        var options = new GatewayProcessOptions { CallbackUrl = app.CallbackUrl }
            .With("Cluster", "Enabled", "true")
            .With("Cluster", "Hostname", "127.0.0.1")
            .With("Cluster", "Port", remoting.ToString(CultureInfo.InvariantCulture))
            .With("Cluster", "DownAfter", DownAfter.ToString("c", CultureInfo.InvariantCulture))
            .With("Jac", "TokenSecret", JacTokens.Secret)
            .With("Shutdown", "Timeout", "00:00:05");
        options.Environment["Gateway__Cluster__SeedNodes__0"] = string.Create(CultureInfo.InvariantCulture, $"akka.tcp://gateway@127.0.0.1:{_seedPort}");
        configure?.Invoke(options);
        GatewayProcess gateway;
        try
        {
            gateway = await GatewayProcess.StartAsync(options);
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        var node = new ClusterNode(_all.Count + 1, gateway, app, remoting);
        _all.Add(node);
        Nodes.Add(node);
        await Wait.UntilAsync(async () => await ReadyAsync(node), TestTimeouts.Long, $"{node} to be Up (/readyz 200)");
        return node;
    }

    /// <summary>Waits until every running node can reach exactly the running nodes.</summary>
    public Task WaitUntilConvergedAsync() =>
        Wait.UntilAsync(
            async () =>
            {
                foreach (var node in Nodes)
                {
                    if (await node.Gateway.Admin.MetricAsync("gateway_cluster_reachable_nodes") != Nodes.Count)
                    {
                        return false;
                    }
                }

                return true;
            },
            TestTimeouts.Long,
            $"all {Nodes.Count} nodes to see each other");

    /// <summary>Waits until <paramref name="on"/>'s list shows exactly <paramref name="expected"/> connection ids (with their nodes), and returns it.</summary>
    public static async Task<JsonElement> WaitForListAsync(ClusterNode on, IReadOnlyDictionary<string, ClusterNode> expected, Func<string, bool> mine, TimeSpan? timeout = null)
    {
        JsonElement last = default;
        await Wait.UntilAsync(
            async () =>
            {
                var response = await on.Gateway.Admin.ListAsync();
                last = JsonDocument.Parse(response.Body).RootElement.Clone();
                var listed = ListedNodes(last).Where(c => mine(c.Key)).ToDictionary();
                return listed.Count == expected.Count && expected.All(e => listed.TryGetValue(e.Key, out var node) && node == e.Value.Address);
            },
            timeout ?? TestTimeouts.Default,
            $"the list on {on} to show exactly {string.Join(", ", expected.Keys)}");
        return last;
    }

    /// <summary>Every listed connection id and its <c>node</c> field.</summary>
    public static IEnumerable<KeyValuePair<string, string?>> ListedNodes(JsonElement list)
    {
        foreach (var user in list.GetProperty("data").EnumerateArray())
        {
            foreach (var group in new[] { "conns", "public_conns" })
            {
                foreach (var connection in user.GetProperty(group).EnumerateArray())
                {
                    yield return new(connection.GetProperty("id").GetString()!, connection.TryGetProperty("node", out var node) ? node.GetString() : null);
                }
            }
        }
    }

    public static async Task<bool> ReadyAsync(ClusterNode node)
    {
        try
        {
            using var response = await node.Gateway.Http.GetAsync("/readyz");
            return response.StatusCode == HttpStatusCode.OK;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _all)
        {
            await node.DisposeAsync();
        }

        if (output is not null)
        {
            Dump(output);
        }
    }

    /// <summary>Writes every node's log from <paramref name="fromLines"/> (per node, in start order) on.</summary>
    public void Dump(ITestOutputHelper to, IReadOnlyList<int>? fromLines = null)
    {
        for (var i = 0; i < _all.Count; i++)
        {
            _all[i].Gateway.DumpOutput(to, fromLines is not null && i < fromLines.Count ? fromLines[i] : 0, _all[i].ToString());
        }
    }

    /// <summary>How many log lines each node has so far.</summary>
    public IReadOnlyList<int> LineCounts() => _all.Select(n => n.Gateway.Output.Lines.Count).ToList();
}
