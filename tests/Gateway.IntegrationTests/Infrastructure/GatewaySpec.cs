using System.Text.Encodings.Web;
using System.Text.Json;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>
/// Base of the integration tests: the gateway and app under test, clients that are disposed after
/// the test, and, after every test, the gateway's log lines and the app's requests from the test's
/// time written to the test output (xunit shows it for failed tests).
/// </summary>
public abstract class GatewaySpec : IAsyncLifetime
{
    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly List<IAsyncDisposable> _owned = [];
    private readonly List<Action> _dumps = [];
    private readonly List<(GatewayHost Host, int FirstLine, long FirstRequest, string Title)> _watched = [];
    private readonly GatewayHost? _host;

    protected GatewaySpec(GatewayHost host, ITestOutputHelper output)
    {
        _host = host;
        Output = output;
        Watch(host, "gateway");
    }

    /// <summary>For specs whose every test starts its own gateways (<see cref="StartOwnGatewayAsync"/>): no shared <see cref="Host"/>.</summary>
    protected GatewaySpec(ITestOutputHelper output)
    {
        Output = output;
    }

    protected GatewayHost Host => _host ?? throw new InvalidOperationException("This spec has no shared gateway; start one with StartOwnGatewayAsync.");

    protected AppServer App => Host.App;

    protected GatewayProcess Gateway => Host.Gateway;

    protected ITestOutputHelper Output { get; }

    public virtual Task InitializeAsync() => Task.CompletedTask;

    public virtual async Task DisposeAsync()
    {
        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            try
            {
                await _owned[i].DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception exception)
            {
                Output.WriteLine($"Disposing {_owned[i].GetType().Name} failed: {exception}");
            }
        }

        foreach (var (host, firstLine, firstRequest, title) in _watched)
        {
            host.Gateway.DumpOutput(Output, firstLine, title);
            host.App.DumpRequests(Output, firstRequest);
        }

        foreach (var dump in _dumps)
        {
            dump();
        }
    }

    /// <summary>A user name no other test uses: <c>&lt;prefix&gt;-&lt;12 hex&gt;</c>.</summary>
    protected static string UniqueUser(string prefix = "user") => $"{prefix}-{Guid.NewGuid().ToString("N")[..12]}";

    /// <summary>Disposes <paramref name="resource"/> after the test.</summary>
    protected T Track<T>(T resource)
        where T : IAsyncDisposable
    {
        _owned.Add(resource);
        return resource;
    }

    /// <summary>A gateway of this test's own, with special settings; disposed (and its log dumped) after the test.</summary>
    protected async Task<GatewayHost> StartOwnGatewayAsync(Action<GatewayProcessOptions>? configure = null, string title = "own gateway")
    {
        var host = Track(await GatewayHost.StartAsync(configure).ConfigureAwait(false));
        Watch(host, title);
        return host;
    }

    /// <summary>Connects a <see cref="WsClient"/> to <paramref name="host"/> (default: this test's) at <paramref name="path"/>.</summary>
    protected async Task<WsClient> ConnectAsync(string? user = null, string? cookie = null, string? userAgent = null, string path = "/ws", GatewayHost? host = null, bool receive = true)
    {
        var uri = (host ?? Host).Gateway.WebSocketUri(path);
        return Track(await WsClient.ConnectAsync(uri, user, cookie, userAgent, receive: receive).ConfigureAwait(false));
    }

    /// <summary>Connects as <paramref name="user"/> and waits for this connection's own <c>open</c> callback.</summary>
    protected async Task<(WsClient Client, RecordedCallback Open)> ConnectAndOpenAsync(string user, string? cookie = null, string? userAgent = null, GatewayHost? host = null)
    {
        var app = (host ?? Host).App;
        var earlier = app.OpenedBy(user);
        var client = await ConnectAsync(user, cookie, userAgent, host: host).ConfigureAwait(false);
        var open = await app.WaitForOpenAsync(user, except: earlier).ConfigureAwait(false);
        return (client, open);
    }

    /// <summary>A node harness of npm <c>ws</c> clients running <paramref name="script"/>, disposed after the test.</summary>
    protected async Task<NodeWsHarness> StartNodeAsync(string script = "ws-client.js")
    {
        var harness = Track(await NodeWsHarness.StartAsync(script).ConfigureAwait(false));
        _dumps.Add(() => harness.DumpOutput(Output));
        return harness;
    }

    /// <summary>
    /// The exact callback body PROTOCOL.md §2 fixes:
    /// <c>{"data":…,"action":…,"user_name":…,"conn_id":…,"token":…,"access_public":…}</c> then <c>raw_text</c>/<c>raw_binary</c>.
    /// Strings are JSON-encoded with only the escapes JSON requires.
    /// </summary>
    protected static string ExpectedCallback(string action, string user, string connId, string token, bool accessPublic, string data = "{}", string? rawText = null, string? rawBinary = null)
    {
        var body = $"{{\"data\":{data},\"action\":{Quote(action)},\"user_name\":{Quote(user)},\"conn_id\":{Quote(connId)},\"token\":{Quote(token)},\"access_public\":{(accessPublic ? "true" : "false")}";
        if (rawText is not null)
        {
            body += $",\"raw_text\":{Quote(rawText)}";
        }

        if (rawBinary is not null)
        {
            body += $",\"raw_binary\":{Quote(rawBinary)}";
        }

        return body + "}";
    }

    /// <summary><paramref name="text"/> as a JSON string literal with only the escapes JSON requires.</summary>
    protected static string Quote(string text) => JsonSerializer.Serialize(text, Relaxed);

    /// <summary>Dumps <paramref name="host"/>'s log and app requests from now on into this test's output, like the test's own gateway.</summary>
    protected void WatchHost(GatewayHost host, string title) => Watch(host, title);

    private void Watch(GatewayHost host, string title) =>
        _watched.Add((host, host.Gateway.Output.Count, host.App.Requests.Count, title));
}
