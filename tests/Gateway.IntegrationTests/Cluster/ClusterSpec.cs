using Gateway.IntegrationTests.Infrastructure;
using Gateway.IntegrationTests.Jac;

namespace Gateway.IntegrationTests.Cluster;

/// <summary>Helpers shared by the cluster specs: clients on a chosen node, unique names, and cleanup.</summary>
public abstract class ClusterSpec(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly List<IAsyncDisposable> _owned = [];

    protected ITestOutputHelper Output { get; } = output;

    public virtual Task InitializeAsync() => Task.CompletedTask;

    public virtual async Task DisposeAsync()
    {
        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            try
            {
                await _owned[i].DisposeAsync();
            }
            catch (Exception exception)
            {
                Output.WriteLine($"Disposing {_owned[i].GetType().Name} failed: {exception.Message}");
            }
        }
    }

    protected static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)];

    /// <summary>
    /// A TAPR client of <paramref name="node"/> as <paramref name="user"/>, once that node's app has the new
    /// socket's own <c>open</c> (not an earlier socket's of the same user); returns it and its conn_id.
    /// </summary>
    protected async Task<(WsClient Client, string ConnId)> ConnectTaprAsync(ClusterNode node, string user)
    {
        var earlier = node.App.OpenedBy(user);
        var client = await WsClient.ConnectAsync(node.Gateway.WebSocketUri(), user);
        _owned.Add(client);
        var open = await node.App.WaitForOpenAsync(user, except: earlier);
        return (client, open.ConnId!);
    }

    /// <summary>A jac client of <paramref name="node"/> for a new root, on <paramref name="channel"/> if given, once that node's app has its <c>open</c>.</summary>
    protected async Task<JacClient> ConnectJacAsync(ClusterNode node, string? channel = null)
    {
        var token = JacTokens.ForRoot(JacTokens.NewRootHex());
        var query = "?auth=" + Uri.EscapeDataString(token) + (channel is null ? string.Empty : "&channel_id=" + Uri.EscapeDataString(channel));
        var socket = await WsClient.ConnectAsync(new Uri(node.Gateway.WebSocketUri("/websocket") + query));
        _owned.Add(socket);
        var client = new JacClient(socket, await socket.ReceiveTextAsync(), token);
        await node.App.WaitForActionAsync(client.ClientId, "open");
        return client;
    }

    protected T Own<T>(T disposable)
        where T : IAsyncDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }
}
