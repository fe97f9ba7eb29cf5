using System.Globalization;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Tls;

/// <summary>
/// PROTOCOL.md §1: HTTPS through Kestrel's standard settings, so clients can use <c>wss://</c>. A plain
/// <c>ws://</c> upgrade is served below Kestrel's HTTP stack, a <c>wss://</c> one through it; the same
/// conversation must go the same way on both.
/// </summary>
public sealed class TlsSpecs(TlsSpecs.Fixture fixture, ITestOutputHelper output)
    : GatewaySpec(fixture.Host, output), IClassFixture<TlsSpecs.Fixture>
{
    private const string Pong = "{\"event\":\"pong\"}";

    [Theory]
    [InlineData("wss")]
    [InlineData("ws")]
    public async Task A_ClientWebSocket_converses_the_same_over_wss_and_ws(string scheme)
    {
        var user = UniqueUser("tls-" + scheme);
        var token = "tls-" + Guid.NewGuid().ToString("N");
        string? servedThumbprint = null;
        var client = Track(await WsClient.ConnectAsync(
            fixture.Uri(scheme),
            user,
            cookie: "auth_token=" + token,
            configure: options => options.RemoteCertificateValidationCallback = (_, certificate, _, _) =>
            {
                servedThumbprint = certificate?.GetCertHashString();
                return true;
            }));
        Assert.Equal(scheme == "wss" ? fixture.Certificate.Thumbprint : null, servedThumbprint);
        var open = await App.WaitForOpenAsync(user);
        var id = open.ConnId!;

        await client.SendTextAsync("{\"event\":\"ping\"}");
        Assert.Equal(Pong, await client.ReceiveTextAsync());

        const string Chat = "{\"event\":\"chat\",\"data\":{\"text\":\"über TLS\",\"n\":18446744073709551617}}";
        var large = LargeFrame("up", 150 * 1024); // many TLS records
        await client.SendTextAsync(Chat);
        await client.SendTextAsync(large);

        const string Notice = "{\"event\":\"notice\",\"data\":[1,2,3]}";
        var largeDown = LargeFrame("down", 300 * 1024);
        var receipt = await Gateway.Admin.SendAsync($"{{\"conn_id\":\"{id}\",\"payload\":{Notice}}}");
        await Gateway.Admin.SendAsync($"{{\"conn_id\":\"{id}\",\"payload\":{largeDown}}}");
        Assert.Equal("{\"code\":0,\"data\":{\"matched\":1,\"enqueued\":1,\"dropped\":0},\"message\":\"success\"}", receipt.Text);
        Assert.Equal(Notice, await client.ReceiveTextAsync());
        Assert.Equal(largeDown, await client.ReceiveTextAsync());

        await App.WaitForAsync(r => r.ConnId == id && r.Action == "message" && r.DataJson == large && r.Delivered);
        var close = await Gateway.Admin.CloseAsync($"{{\"conns\":[\"{id}\"],\"code\":4100,\"reason\":\"tls bye\"}}");
        Assert.Equal("{\"code\":0,\"message\":\"success\"}", close.Text);
        Assert.Equal(new WsClose(4100, "tls bye", FrameReceived: true), await client.WaitForCloseAsync());
        await App.WaitForActionAsync(id, "close");

        var callbacks = App.ForConnection(id);
        Assert.Equal(
            [
                ExpectedCallback("open", user, id, token, accessPublic: false),
                ExpectedCallback("message", user, id, token, accessPublic: false, data: Chat),
                ExpectedCallback("message", user, id, token, accessPublic: false, data: large),
                ExpectedCallback("close", user, id, token, accessPublic: false),
            ],
            callbacks.Select(c => c.BodyText));
        Assert.All(callbacks, c => Assert.Equal("auth_token=" + token, c.Cookie));
    }

    /// <summary>
    /// Issue 10: every protocol an endpoint advertises must serve WebSockets or not be advertised. The client
    /// endpoints upgrade HTTP/1.1 (RFC 6455), so TLS offers only <c>http/1.1</c>, never <c>h2</c>.
    /// </summary>
    [Fact]
    public async Task The_tls_listener_negotiates_http11_only_even_when_the_client_prefers_h2()
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync("127.0.0.1", fixture.HttpsPort);
        await using var tls = new System.Net.Security.SslStream(tcp.GetStream());
        using var cancel = new CancellationTokenSource(TestTimeouts.Default);

        await tls.AuthenticateAsClientAsync(
            new System.Net.Security.SslClientAuthenticationOptions
            {
                TargetHost = "127.0.0.1",
                ApplicationProtocols = [System.Net.Security.SslApplicationProtocol.Http2, System.Net.Security.SslApplicationProtocol.Http11],
                RemoteCertificateValidationCallback = static (_, _, _, _) => true,
            },
            cancel.Token);

        Assert.Equal(System.Net.Security.SslApplicationProtocol.Http11, tls.NegotiatedApplicationProtocol);
    }

    [Fact]
    public async Task An_npm_ws_client_converses_over_wss()
    {
        var user = UniqueUser("tls-node");
        var node = await StartNodeAsync("ws-client-insecure.js");
        var client = await node.OpenAsync(fixture.Uri("wss"), new Dictionary<string, string> { ["X-Bfl-User"] = user });
        var open = await App.WaitForOpenAsync(user);
        var id = open.ConnId!;

        await client.SendTextAsync("{\"event\":\"ping\"}");
        Assert.Equal(Pong, (await client.ReceiveAsync()).Text);
        await client.PingAsync();
        await client.WaitForPongAsync(1);

        await client.SendTextAsync("{\"event\":\"from-node\"}");
        await Gateway.Admin.SendAsync($"{{\"users\":[\"{user}\"],\"payload\":{{\"event\":\"to-node\"}}}}");
        Assert.Equal("{\"event\":\"to-node\"}", (await client.ReceiveAsync()).Text);

        await client.CloseAsync(1000, "done");
        Assert.Equal(new WsClose(1000, string.Empty, FrameReceived: true), await client.WaitForCloseAsync()); // the code is echoed
        await App.WaitForActionAsync(id, "close");
        Assert.Equal(
            ["open", "message {\"event\":\"from-node\"}", "close"],
            App.ForConnection(id).Select(c => c.Action == "message" ? "message " + c.DataJson : c.Action!));
    }

    /// <summary>
    /// A plaintext upgrade sent to the HTTPS port meets the TLS handshake, which fails: it is not served as a <c>ws://</c>
    /// socket. The lean path reads every connection's first bytes before Kestrel's TLS layer, so it must know which
    /// ports are TLS.
    /// </summary>
    [Fact]
    public async Task A_plaintext_upgrade_on_the_https_port_is_not_served()
    {
        var user = UniqueUser("tls-plaintext");
        var raw = Track(await RawHttp.ConnectAsync(fixture.HttpsPort));

        await raw.WriteAsync(RawHttp.UpgradeRequest("/ws", fixture.HttpsPort, "X-Bfl-User: " + user));
        var failure = await Record.ExceptionAsync(raw.ReadResponseAsync);

        Assert.IsAssignableFrom<IOException>(failure);
    }

    private static string LargeFrame(string direction, int bytes)
    {
        var head = $"{{\"event\":\"large\",\"direction\":\"{direction}\",\"pad\":\"";
        var pad = string.Create(bytes - head.Length - 2, 0, static (span, _) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = (char)('a' + (i % 26));
            }
        });
        return head + pad + "\"}";
    }

    /// <summary>
    /// A gateway listening on HTTPS (a self-signed certificate made for the run) and plain HTTP, both set
    /// through Kestrel's standard endpoint configuration, not the harness's <c>ASPNETCORE_URLS</c>.
    /// </summary>
    public sealed class Fixture : IAsyncLifetime
    {
        private GatewayHost? _host;

        public SelfSignedCertificate Certificate { get; } = SelfSignedCertificate.Create();

        public int HttpsPort { get; } = GatewayProcess.GetFreePort();

        public int HttpPort { get; } = GatewayProcess.GetFreePort();

        public GatewayHost Host => _host ?? throw new InvalidOperationException("The fixture has not started.");

        /// <summary><c>wss://127.0.0.1:&lt;https port&gt;/ws</c> or <c>ws://127.0.0.1:&lt;http port&gt;/ws</c>.</summary>
        public Uri Uri(string scheme) =>
            new(string.Create(CultureInfo.InvariantCulture, $"{scheme}://127.0.0.1:{(scheme == "wss" ? HttpsPort : HttpPort)}/ws"));

        public async Task InitializeAsync() => _host = await GatewayHost.StartAsync(options =>
        {
            options.Environment["ASPNETCORE_URLS"] = null;
            options.Environment["Kestrel__Endpoints__Https__Url"] = string.Create(CultureInfo.InvariantCulture, $"https://127.0.0.1:{HttpsPort}");
            options.Environment["Kestrel__Endpoints__Https__Certificate__Path"] = Certificate.PfxPath;
            options.Environment["Kestrel__Endpoints__Https__Certificate__Password"] = Certificate.Password;
            options.Environment["Kestrel__Endpoints__Http__Url"] = string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{HttpPort}");
        });

        public async Task DisposeAsync()
        {
            if (_host is not null)
            {
                await _host.DisposeAsync();
            }

            Certificate.Dispose();
        }
    }
}
