using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Edge;

/// <summary>
/// Two gateways that differ only in the path a plain <c>ws://</c> upgrade takes: the lean path (default) and
/// Kestrel's HTTP stack (<c>Gateway:Sockets:LeanPath=false</c>), so a spec can send the same bytes to both and
/// require the same answer. Both allow <c>https://app.example</c> on <c>/ws</c> and <c>https://jac.example</c> on
/// <c>/websocket</c> and refuse every other <c>Origin</c>.
/// </summary>
public sealed class EdgeGatewaysFixture : IAsyncLifetime
{
    public const string TaprOrigin = "https://app.example";
    public const string JacOrigin = "https://jac.example";

    private GatewayHost? _lean;
    private GatewayHost? _http;

    /// <summary>The gateway serving upgrades on the lean path.</summary>
    public GatewayHost Lean => _lean ?? throw new InvalidOperationException("not started");

    /// <summary>The gateway serving every upgrade through Kestrel's HTTP stack.</summary>
    public GatewayHost Http => _http ?? throw new InvalidOperationException("not started");

    /// <summary>The gateway for a path name used in theories: <c>lean</c> or <c>http</c>.</summary>
    public GatewayHost For(string path) => path == "lean" ? Lean : Http;

    public async Task InitializeAsync()
    {
        var lean = GatewayHost.StartAsync(o => Configure(o, lean: true));
        var http = GatewayHost.StartAsync(o => Configure(o, lean: false));
        _lean = await lean.ConfigureAwait(false);
        _http = await http.ConfigureAwait(false);
    }

    public async Task DisposeAsync()
    {
        if (_lean is not null)
        {
            await _lean.DisposeAsync().ConfigureAwait(false);
        }

        if (_http is not null)
        {
            await _http.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static void Configure(GatewayProcessOptions options, bool lean)
    {
        options.With("Sockets", "LeanPath", lean ? "true" : "false");
        options.With("Tapr", "AllowedOrigins__0", TaprOrigin);
        options.With("Jac", "AllowedOrigins__0", JacOrigin);

        // Long enough that a connection ended by the gateway within a test was ended by the close handshake, not the timeout.
        options.With("Limits", "CloseHandshakeTimeout", "00:01:00");
    }
}

/// <summary>The edge specs that share <see cref="EdgeGatewaysFixture"/>; they run one after another.</summary>
[CollectionDefinition(Name)]
public sealed class EdgeGatewaysCollection : ICollectionFixture<EdgeGatewaysFixture>
{
    public const string Name = "Edge gateways (lean and HTTP path)";
}

/// <summary>Base of the specs on <see cref="EdgeGatewaysFixture"/>: both gateways' logs go into a failed test's output.</summary>
public abstract class EdgeSpec : GatewaySpec
{
    protected EdgeSpec(EdgeGatewaysFixture fixture, ITestOutputHelper output)
        : base(fixture.Lean, output)
    {
        Fixture = fixture;
        WatchHost(fixture.Http, "gateway on the HTTP path");
    }

    protected EdgeGatewaysFixture Fixture { get; }

    /// <summary>Log lines at error or critical level (<c>fail:</c>, <c>crit:</c>) the gateway wrote from line <paramref name="from"/> on.</summary>
    protected static IReadOnlyList<string> ErrorLines(GatewayHost host, int from) =>
        host.Gateway.Output.Since(from).Where(static line => line.Contains("fail:", StringComparison.Ordinal) || line.Contains("crit:", StringComparison.Ordinal)).ToList();
}
