using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Admin;

/// <summary>PROTOCOL.md §1 (security): admin calls only from loopback unless allowed, an optional bearer token, an optional admin port.</summary>
public sealed class AdminAccessSpecs(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly List<GatewayProcess> _gateways = [];

    [Fact]
    public async Task A_configured_admin_token_is_required_on_every_admin_call()
    {
        var gateway = await StartAsync(o => o.With("Admin", "Token", "s3cr3t-token"));

        var missing = await gateway.Admin.ListAsync();
        gateway.Admin.BearerToken = "wrong";
        var wrong = await gateway.Admin.SendAsync("{\"conn_id\":\"x\"}");
        gateway.Admin.BearerToken = "s3cr3t-token";
        var right = await gateway.Admin.ListAsync();
        var rightSend = await gateway.Admin.SendAsync("{\"conn_id\":\"x\"}");
        var rightClose = await gateway.Admin.CloseAsync("{\"conns\":[\"x\"]}");

        Assert.Equal(HttpStatusCode.Unauthorized, missing.Status);
        Assert.Equal("{\"code\":401,\"message\":\"missing or wrong admin token\"}", missing.Text);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.Status);
        Assert.Equal(HttpStatusCode.OK, right.Status);
        Assert.Equal("{\"code\":0,\"data\":[],\"message\":\"success\"}", right.Text);
        Assert.Equal("{\"code\":0,\"data\":{\"matched\":0,\"enqueued\":0,\"dropped\":0},\"message\":\"success\"}", rightSend.Text);
        Assert.Equal("{\"code\":0,\"message\":\"success\"}", rightClose.Text);
    }

    [Fact]
    public async Task The_admin_token_does_not_apply_to_clients()
    {
        var gateway = await StartAsync(o => o.With("Admin", "Token", "s3cr3t-token"));

        await using var client = await WsClient.ConnectAsync(gateway.WebSocketUri(), "client");
        await client.SendTextAsync("{\"event\":\"ping\"}");

        Assert.Equal("{\"event\":\"pong\"}", await client.ReceiveTextAsync());
    }

    [Fact]
    public async Task A_non_loopback_peer_is_refused_with_403_while_loopback_and_clients_are_served()
    {
        var address = NetworkAddresses.NonLoopbackIPv4();
        var gateway = await StartAsync(o => o.BindAddress = "0.0.0.0");
        if (address is null)
        {
            // No other interface: at least the refusal is configured (AllowRemote defaults to false) and loopback is served.
            output.WriteLine("This machine has no non-loopback IPv4 address; only the loopback side is checked.");
            Assert.Equal(HttpStatusCode.OK, (await gateway.Admin.ListAsync()).Status);
            return;
        }

        using var remote = RemoteClient(address, gateway.Port);
        using var list = await remote.GetAsync("/tapr/ws/conn/list");
        using var send = await remote.PostAsync("/tapr/ws/conn/send", new StringContent("{\"conn_id\":\"x\"}"));
        using var close = await remote.PostAsync("/tapr/ws/conn/close", new StringContent("{\"all\":true}"));
        using var metrics = await remote.GetAsync("/metrics");

        Assert.Equal(HttpStatusCode.Forbidden, list.StatusCode);
        Assert.Equal("{\"code\":403,\"message\":\"the admin API only answers loopback peers\"}", await list.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Forbidden, send.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, close.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, metrics.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await gateway.Admin.ListAsync()).Status);
        Assert.Contains(gateway.Output.Lines, l => l.Contains("non-loopback peer", StringComparison.Ordinal) && l.Contains(address.ToString(), StringComparison.Ordinal));

        // Clients come through the ingress from other addresses: the WebSocket endpoint serves them.
        await using var client = await WsClient.ConnectAsync(new Uri($"ws://{address}:{gateway.Port}/ws"), "remote-client");
        await client.SendTextAsync("{\"event\":\"ping\"}");
        Assert.Equal("{\"event\":\"pong\"}", await client.ReceiveTextAsync());
    }

    [Fact]
    public async Task Allow_remote_lets_a_non_loopback_peer_call_the_admin_api()
    {
        var address = NetworkAddresses.NonLoopbackIPv4();
        var gateway = await StartAsync(o =>
        {
            o.BindAddress = "0.0.0.0";
            o.With("Admin", "AllowRemote", "true");
        });
        if (address is null)
        {
            output.WriteLine("This machine has no non-loopback IPv4 address; only the loopback side is checked.");
            Assert.Equal(HttpStatusCode.OK, (await gateway.Admin.ListAsync()).Status);
            return;
        }

        using var remote = RemoteClient(address, gateway.Port);
        using var list = await remote.GetAsync("/tapr/ws/conn/list");

        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        Assert.Equal("{\"code\":0,\"data\":[],\"message\":\"success\"}", await list.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_separate_admin_port_serves_the_admin_api_and_the_client_port_does_not()
    {
        var adminPort = GatewayProcess.GetFreePort();
        var gateway = await StartAsync(o => o.With("Admin", "Port", adminPort.ToString(CultureInfo.InvariantCulture)));
        using var adminHttp = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{adminPort}") };

        var onClientPort = await gateway.Admin.ListAsync();
        using var onAdminPort = await adminHttp.GetAsync("/tapr/ws/conn/list");

        Assert.Equal(HttpStatusCode.NotFound, onClientPort.Status);
        Assert.Equal(HttpStatusCode.OK, onAdminPort.StatusCode);
        Assert.Equal("{\"code\":0,\"data\":[],\"message\":\"success\"}", await onAdminPort.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task With_Kestrel_endpoints_beside_urls_as_in_the_image_a_separate_admin_port_still_serves_the_admin_api()
    {
        // The harness sets ASPNETCORE_URLS, as the container image does; Kestrel:Endpoints override it.
        var adminPort = GatewayProcess.GetFreePort();
        var gateway = await StartWithKestrelEndpointsAsync(adminPort, declareAdminEndpoint: false);

        await AssertAdminOnlyOnAsync(gateway, adminPort);
    }

    [Fact]
    public async Task An_admin_port_the_operator_also_declared_as_a_Kestrel_endpoint_is_bound_once_and_serves_the_admin_api()
    {
        var adminPort = GatewayProcess.GetFreePort();
        var gateway = await StartWithKestrelEndpointsAsync(adminPort, declareAdminEndpoint: true);

        await AssertAdminOnlyOnAsync(gateway, adminPort);
    }

    /// <summary>Starts a gateway whose client port is a <c>Kestrel:Endpoints</c> entry, with <c>Admin:Port</c> set (and declared as an endpoint too, if asked).</summary>
    private Task<GatewayProcess> StartWithKestrelEndpointsAsync(int adminPort, bool declareAdminEndpoint)
    {
        var clientPort = GatewayProcess.GetFreePort();
        return StartAsync(o =>
        {
            o.Port = clientPort;
            o.Environment["Kestrel__Endpoints__Clients__Url"] = string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{clientPort}");
            if (declareAdminEndpoint)
            {
                o.Environment["Kestrel__Endpoints__Admin__Url"] = string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{adminPort}");
            }

            o.With("Admin", "Port", adminPort.ToString(CultureInfo.InvariantCulture));
        });
    }

    /// <summary>The admin API answers on <paramref name="adminPort"/> and 404 on the client port.</summary>
    private static async Task AssertAdminOnlyOnAsync(GatewayProcess gateway, int adminPort)
    {
        using var adminHttp = GatewayProcess.CreateHttpClient(new Uri($"http://127.0.0.1:{adminPort}"));

        var onClientPort = await gateway.Admin.ListAsync();
        using var onAdminPort = await adminHttp.GetAsync("/tapr/ws/conn/list");

        Assert.Equal(HttpStatusCode.NotFound, onClientPort.Status);
        Assert.Equal(HttpStatusCode.OK, onAdminPort.StatusCode);
        Assert.Equal("{\"code\":0,\"data\":[],\"message\":\"success\"}", await onAdminPort.Content.ReadAsStringAsync());
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var gateway in _gateways)
        {
            await gateway.DisposeAsync();
            gateway.DumpOutput(output);
        }
    }

    private static HttpClient RemoteClient(IPAddress address, int port)
    {
        var client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = new Uri($"http://{address}:{port}"), Timeout = TestTimeouts.Default };
        client.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        return client;
    }

    private async Task<GatewayProcess> StartAsync(Action<GatewayProcessOptions> configure)
    {
        var options = new GatewayProcessOptions();
        configure(options);
        var gateway = await GatewayProcess.StartAsync(options);
        _gateways.Add(gateway);
        return gateway;
    }
}
