using System.Text.RegularExpressions;
using Gateway.IntegrationTests.Infrastructure;
using Gateway.IntegrationTests.Jac;

namespace Gateway.IntegrationTests.Browser;

/// <summary>
/// A real browser's WebSocket (headless Chromium) against both dialects: it sends no custom headers,
/// carries cookies and an Origin, and reports close codes as browsers do. The pages are served by the
/// app server; the gateway is on another port of the same host, so the page's cookie reaches it.
/// </summary>
public sealed partial class BrowserSpecs(BrowserSpecs.Fixture fixture, ITestOutputHelper output)
    : GatewaySpec(fixture.Host, output), IClassFixture<BrowserSpecs.Fixture>
{
    private const string PagesPath = "/pages/";
    private static readonly TimeSpan PageTimeout = TestTimeouts.Dilated(TimeSpan.FromSeconds(20));

    public override Task InitializeAsync()
    {
        App.Responder = ServePage;
        return base.InitializeAsync();
    }

    [Fact]
    public async Task A_plain_browser_client_pings_receives_an_admin_send_and_sees_a_custom_close_code()
    {
        var token = "browser-" + Guid.NewGuid().ToString("N");
        var page = PageUri("browser-tapr.html", ("gateway", Gateway.WebSocketUri("/ws").ToString()), ("token", token), ("timeout", Milliseconds(PageTimeout)));
        var browser = HeadlessChromium.RunAsync(page, PageTimeout, Output);

        var open = await App.WaitForAsync(r => r.Action == "open" && r.Token == token, TestTimeouts.Long, "the browser's open callback");
        var id = open.ConnId!;
        await App.WaitForAsync(r => r.ConnId == id && r.DataJson == "{\"event\":\"got-pong\"}" && r.Delivered);
        const string Payload = "{\"event\":\"notice\",\"data\":{\"text\":\"hello, browser\",\"emoji\":\"\u2603\"}}";
        var receipt = DeliveryReceipt.Parse(await Gateway.Admin.SendAsync($"{{\"conn_id\":\"{id}\",\"payload\":{Payload}}}"));
        await App.WaitForAsync(r => r.ConnId == id && r.DataJson == "{\"event\":\"got-message\"}" && r.Delivered);
        var close = await Gateway.Admin.CloseAsync($"{{\"conns\":[\"{id}\"],\"code\":4100,\"reason\":\"browser bye\"}}");
        var result = await browser;

        Assert.Equal(new DeliveryReceipt(1, 1, 0), receipt);
        Assert.Equal("{\"code\":0,\"message\":\"success\"}", close.Text);
        Assert.Equal("closed", result.GetProperty("how").GetString());
        Assert.Equal("{\"event\":\"pong\"}", result.GetProperty("pong").GetString());
        Assert.Equal(Payload, result.GetProperty("adminMessage").GetString());
        Assert.Equal(0, result.GetProperty("unexpected").GetArrayLength());
        var seen = result.GetProperty("close");
        Assert.Equal((4100, "browser bye", true), (seen.GetProperty("code").GetInt32(), seen.GetProperty("reason").GetString(), seen.GetProperty("wasClean").GetBoolean()));

        // No user header from a browser: user "", the token from the page's cookie; the ping stays in the gateway.
        await App.WaitForActionAsync(id, "close");
        var callbacks = App.ForConnection(id);
        Assert.Equal(["open", "{\"event\":\"got-pong\"}", "{\"event\":\"got-message\"}", "close"], callbacks.Select(c => c.Action == "message" ? c.DataJson : c.Action));
        Assert.All(callbacks, c => Assert.Equal((string.Empty, token, false), (c.UserName, c.Token, c.AccessPublic)));
        Assert.All(callbacks, c => Assert.Contains("auth_token=" + token, c.Cookie, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_jac_page_authenticates_with_the_auth_query_and_changes_user(bool bearerPrefix)
    {
        var first = JacTokens.NewRootHex();
        var second = JacTokens.NewRootHex();
        var auth = (bearerPrefix ? "Bearer%20" : string.Empty) + JacTokens.ForRoot(first, fixture.Secret);
        var gateway = new UriBuilder(Gateway.WebSocketUri("/websocket")) { Query = "auth=" + auth }.Uri;
        var page = PageUri("browser-jac.html", ("gateway", gateway.ToString()), ("next", "Bearer " + JacTokens.ForRoot(second, fixture.Secret)), ("timeout", Milliseconds(PageTimeout)));

        var result = await HeadlessChromium.RunAsync(page, PageTimeout, Output);

        Assert.Equal("closed", result.GetProperty("how").GetString());
        var events = result.GetProperty("events").EnumerateArray().ToList();
        Assert.Equal(2, events.Count);
        Assert.All(events, e => Assert.Equal("connection", e.GetProperty("type").GetString()));
        var before = events[0].GetProperty("data");
        var after = events[1].GetProperty("data");
        Assert.Equal("n::" + first, before.GetProperty("root_id").GetString());
        Assert.Equal("n::" + second, after.GetProperty("root_id").GetString());
        var clientId = before.GetProperty("client_id").GetString()!;
        Assert.Matches(JacId(), clientId);
        Assert.Matches(JacId(), before.GetProperty("channel_id").GetString()!);
        Assert.Equal(clientId, after.GetProperty("client_id").GetString());
        Assert.Equal(before.GetProperty("channel_id").GetString(), after.GetProperty("channel_id").GetString());
        Assert.Equal(1000, result.GetProperty("close").GetProperty("code").GetInt32());

        // The app knew the connection as the token's root from the start.
        var open = await App.WaitForActionAsync(clientId, "open");
        Assert.Equal(("n::" + first, false), (open.UserName, open.AccessPublic));
        await App.WaitForActionAsync(clientId, "close");
    }

    private static string Milliseconds(TimeSpan span) => ((int)span.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private Uri PageUri(string page, params (string Name, string Value)[] query) =>
        new($"http://127.0.0.1:{App.Port}{PagesPath}{page}?{string.Join('&', query.Select(q => q.Name + "=" + Uri.EscapeDataString(q.Value)))}");

    private static AppReply? ServePage(RecordedCallback request)
    {
        if (request.Method != "GET" || !request.Path.StartsWith(PagesPath, StringComparison.Ordinal))
        {
            return null;
        }

        var name = request.Path[PagesPath.Length..].Split('?')[0];
        var file = Path.Combine(RepoPaths.NodeDirectory, name);
        return name.StartsWith("browser-", StringComparison.Ordinal) && name.EndsWith(".html", StringComparison.Ordinal) && File.Exists(file)
            ? new AppReply(200, File.ReadAllText(file), ContentType: "text/html; charset=utf-8")
            : new AppReply(404);
    }

    [GeneratedRegex("^[0-9]+:[0-9a-f]{32}$")]
    private static partial Regex JacId();

    /// <summary>A gateway with a jac token secret of its own.</summary>
    public sealed class Fixture : GatewayFixture
    {
        /// <summary>The HS256 secret the gateway checks jac tokens with.</summary>
        public string Secret { get; } = "browser-specs-" + Guid.NewGuid().ToString("N");

        protected override void Configure(GatewayProcessOptions options)
        {
            ArgumentNullException.ThrowIfNull(options);
            options.With("Jac", "TokenSecret", Secret);
        }
    }
}
