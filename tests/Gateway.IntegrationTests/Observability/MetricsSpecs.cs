using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Gateway.Hosting;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Observability;

/// <summary>
/// Issue 13: OpenTelemetry metrics through the Prometheus scrape endpoint (<c>/metrics</c>), the gateway's
/// own instruments beside ASP.NET Core's, Kestrel's, the HTTP client's and the runtime's, and the admin
/// access rule on <c>/metrics</c> and the admin page.
/// </summary>
/// <remarks>Most tests count from zero, so they start a gateway of their own; the shared one serves the rest.</remarks>
[Collection(SharedGatewayCollection.Name)]
public sealed class MetricsSpecs(SharedGatewayFixture fixture, ITestOutputHelper output) : GatewaySpec(fixture.Host, output)
{
    private GatewayHost? _own;

    [Fact]
    public async Task The_metric_cardinality_limit_caps_tag_sets_and_counts_the_rest_as_overflow()
    {
        _own = await StartOwnGatewayAsync(o => o.With("Telemetry", "MetricCardinalityLimit", "1"), "gateway with a metric cardinality limit of 1");
        var admin = _own.Gateway.Admin;

        // Two admin routes are two tag sets of one histogram: the second is past the limit.
        Assert.Equal(HttpStatusCode.OK, (await admin.ListAsync()).Status);
        Assert.Equal(HttpStatusCode.OK, (await admin.SendAsync("{\"users\":[\"nobody\"],\"payload\":{}}")).Status);

        // The admin endpoints time a request once its response is written, which may be after the client has it.
        List<PrometheusSample> samples = [];
        await Wait.UntilAsync(
            async () =>
            {
                samples = PrometheusText.Parse((await admin.GetAsync("/metrics")).Text)
                    .Where(s => s.Name == "gateway_admin_request_duration_seconds_count")
                    .ToList();
                return samples.Sum(s => s.Value) >= 2;
            },
            what: "both admin requests timed");

        Assert.Single(samples, s => s.Labels.ContainsKey("http_route"));
        Assert.Contains(samples, s => s.Labels.TryGetValue("otel_metric_overflow", out var overflow) && overflow == "true");
        Assert.Equal(2, samples.Sum(s => s.Value));
    }

    [Fact]
    public async Task A_scrape_shows_the_gateways_instruments_after_a_connection_and_a_message()
    {
        _own = await StartOwnGatewayAsync();
        var user = UniqueUser("metrics");
        var (client, open) = await ConnectAndOpenAsync(user, host: _own);
        await client.SendTextAsync("{\"event\":\"hello\"}");
        await _own.App.WaitForAsync(r => r.ConnId == open.ConnId && r.Action == "message" && r.Delivered);
        var receipt = await _own.Gateway.Admin.SendAsync($"{{\"users\":[\"{user}\"],\"payload\":{{\"event\":\"notice\"}}}}");
        Assert.Equal("{\"event\":\"notice\"}", await client.ReceiveTextAsync());

        var admin = _own.Gateway.Admin;
        var scrape = await admin.GetAsync("/metrics");
        var text = scrape.Text;
        var samples = PrometheusText.Parse(text);

        Assert.Equal(HttpStatusCode.OK, scrape.Status);
        Assert.StartsWith("text/plain", scrape.ContentType, StringComparison.Ordinal);
        Assert.Contains("\"matched\":1,\"enqueued\":1", receipt.Text, StringComparison.Ordinal);
        Assert.Equal(1, await admin.MetricAsync("gateway_connection_active", ("gateway_dialect", "tapr")));
        Assert.Equal(1, await admin.MetricAsync("gateway_connection_opened_total", ("gateway_dialect", "tapr")));
        Assert.Equal(1, await admin.MetricAsync("gateway_message_received_total", ("gateway_dialect", "tapr")));
        Assert.Equal(1, await admin.MetricAsync("gateway_message_sent_total"));
        Assert.Equal(1, await admin.MetricAsync("gateway_send_fanout_count"));
        Assert.Equal(1, await admin.MetricAsync("gateway_send_fanout_sum"));
        Assert.True(await admin.MetricAsync("gateway_callback_duration_seconds_count", ("gateway_callback_outcome", "delivered")) >= 2, "open and message callbacks measured");
        await WaitForAdminSendTimedAsync(admin);
        Assert.True(await admin.MetricAsync("gateway_connection_limit") > 0);
        Assert.Equal(0, await admin.MetricAsync("gateway_inbound_pending_bytes"));
        Assert.Equal(0, await admin.MetricAsync("gateway_callback_pending"));

        // Units and types as OpenTelemetry's Prometheus mapping gives them.
        Assert.Contains("# TYPE gateway_callback_duration_seconds histogram", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE gateway_connection_active gauge", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE gateway_connection_opened_total counter", text, StringComparison.Ordinal);

        // The built-in meters: ASP.NET Core hosting, Kestrel, the callback client, the runtime.
        Assert.Contains(samples, s => s.Name == "http_server_request_duration_seconds_count");
        Assert.Contains(samples, s => s.Name.StartsWith("kestrel_", StringComparison.Ordinal));
        Assert.Contains(samples, s => s.Name == "http_client_request_duration_seconds_count");
        Assert.Contains(samples, s => s.Name == "http_server_active_requests");
        Assert.Contains(samples, s => s.Name == "http_client_open_connections");
        Assert.Contains(samples, s => s.Name.StartsWith("dotnet_", StringComparison.Ordinal));

        // The hand-written exposition is gone.
        Assert.DoesNotContain("gateway_connections_opened_total", text, StringComparison.Ordinal);

        // Closing: by code, with a duration; users sampled by the live feed.
        await client.CloseAsync();
        await _own.App.WaitForActionAsync(open.ConnId!, "close");
        await Wait.UntilAsync(
            async () => await admin.MetricOrNullAsync("gateway_connection_closed_total", ("gateway_close_code", "1000")) == 1,
            what: "the close counted under code 1000");
        Assert.Equal(0, await admin.MetricAsync("gateway_connection_active"));
        Assert.Equal(1, await admin.MetricAsync("gateway_connection_duration_seconds_count", ("gateway_close_code", "1000")));
        await Wait.UntilAsync(async () => await admin.MetricAsync("gateway_user_active") == 0, what: "no users left");

        // Kestrel's per-connection histogram is off by default (Telemetry:KestrelConnectionDuration): once Kestrel has
        // counted a TCP connection out (where it would also have timed it), no such series exists. The WebSocket was
        // never Kestrel's (Sockets:LeanTransport), so a request on a connection of its own, closed after the response, is.
        var kestrelConnections = await admin.MetricAsync("kestrel_active_connections");
        using (var health = new HttpRequestMessage(HttpMethod.Get, "/healthz"))
        {
            health.Headers.ConnectionClose = true;
            using var response = await _own.Gateway.Http.SendAsync(health);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await Wait.UntilAsync(
            async () => await admin.MetricAsync("kestrel_active_connections") <= kestrelConnections,
            what: "Kestrel counting the request's TCP connection out");
        Assert.DoesNotContain(PrometheusText.Parse((await admin.GetAsync("/metrics")).Text), s => s.Name.StartsWith("kestrel_connection_duration", StringComparison.Ordinal));
    }

    [Fact]
    public async Task HttpRequestMetrics_false_drops_the_per_request_http_instruments_and_keeps_the_gateways_own()
    {
        _own = await StartOwnGatewayAsync(o => o.With("Telemetry", "HttpRequestMetrics", "false"), "gateway without per-request HTTP metrics");
        var admin = _own.Gateway.Admin;
        var user = UniqueUser("no-http-metrics");
        var (client, open) = await ConnectAndOpenAsync(user, host: _own);
        await client.SendTextAsync("{\"event\":\"hello\"}");
        await _own.App.WaitForAsync(r => r.ConnId == open.ConnId && r.Action == "message" && r.Delivered);
        Assert.Contains("\"matched\":1,", (await admin.SendAsync($"{{\"users\":[\"{user}\"],\"payload\":1}}")).Text, StringComparison.Ordinal);
        Assert.Equal("1", await client.ReceiveTextAsync());

        var samples = PrometheusText.Parse((await admin.GetAsync("/metrics")).Text);

        // The callbacks (open, message) and the admin send are still timed, by the gateway's own instruments.
        Assert.True(await admin.MetricAsync("gateway_callback_duration_seconds_count", ("gateway_callback_outcome", "delivered")) >= 2, "open and message callbacks measured");
        await WaitForAdminSendTimedAsync(admin);
        // Prometheus names: dots become underscores, then a unit suffix may follow.
        foreach (var dropped in TelemetrySetup.HttpRequestInstruments.Select(name => name.Replace('.', '_')))
        {
            Assert.DoesNotContain(samples, s => s.Name.StartsWith(dropped, StringComparison.Ordinal));
        }

        // The meters' other instruments, and the runtime's, stay.
        Assert.Contains(samples, s => s.Name.StartsWith("kestrel_", StringComparison.Ordinal));
        Assert.Contains(samples, s => s.Name.StartsWith("dotnet_", StringComparison.Ordinal));
    }

    [Fact]
    public async Task KestrelConnectionDuration_exports_kestrels_per_connection_histogram()
    {
        _own = await StartOwnGatewayAsync(o => o.With("Telemetry", "KestrelConnectionDuration", "true"), "gateway exporting kestrel.connection.duration");
        var (client, open) = await ConnectAndOpenAsync(UniqueUser("kestrel-duration"), host: _own);

        await client.CloseAsync();
        await _own.App.WaitForActionAsync(open.ConnId!, "close");

        await Wait.UntilAsync(
            async () => PrometheusText.Parse((await _own.Gateway.Admin.GetAsync("/metrics")).Text)
                .Where(s => s.Name == "kestrel_connection_duration_seconds_count").Sum(s => s.Value) >= 1,
            what: "the closed socket's TCP connection timed by Kestrel");
    }

    [Fact]
    public async Task Metrics_the_admin_page_and_its_feed_refuse_a_caller_without_the_admin_token()
    {
        const string Token = "observe-token";
        _own = await StartOwnGatewayAsync(o => o.With("Admin", "Token", Token), "gateway with an admin token");
        var gateway = _own.Gateway;

        var metrics = await gateway.Admin.GetAsync("/metrics");
        using var page = await gateway.Http.GetAsync("/admin/");
        var feed = await gateway.Admin.GetAsync("/admin/feed");
        var list = await gateway.Admin.ListAsync();
        gateway.Admin.BearerToken = Token;
        var metricsWithToken = await gateway.Admin.GetAsync("/metrics");
        using var pageWithBasic = new HttpRequestMessage(HttpMethod.Get, "/admin/");
        pageWithBasic.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("operator:" + Token)));
        var pageWithToken = await gateway.Admin.SendRequestAsync(pageWithBasic);

        // The same refusal, byte for byte, as the admin API's.
        Assert.Equal(HttpStatusCode.Unauthorized, list.Status);
        Assert.Equal((list.Status, list.Text), (metrics.Status, metrics.Text));
        Assert.Equal((list.Status, list.Text), (feed.Status, feed.Text));
        Assert.Equal(HttpStatusCode.Unauthorized, page.StatusCode);
        Assert.Equal("Basic", page.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal(HttpStatusCode.OK, metricsWithToken.Status);
        Assert.Contains("gateway_connection_limit", metricsWithToken.Text, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, pageWithToken.Status);
        Assert.StartsWith("text/html", pageWithToken.ContentType, StringComparison.Ordinal);
        Assert.Contains("<title>Gateway admin</title>", pageWithToken.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PrometheusOpen_lets_a_scraper_in_without_the_token_and_keeps_the_admin_api_closed()
    {
        _own = await StartOwnGatewayAsync(
            o => o.With("Admin", "Token", "observe-token").With("Telemetry", "PrometheusOpen", "true"),
            "gateway with open metrics");

        var metrics = await _own.Gateway.Admin.GetAsync("/metrics");
        var list = await _own.Gateway.Admin.ListAsync();
        var page = await _own.Gateway.Admin.GetAsync("/admin/");

        Assert.Equal(HttpStatusCode.OK, metrics.Status);
        Assert.Contains("gateway_connection_limit", metrics.Text, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, list.Status);
        Assert.Equal(HttpStatusCode.Unauthorized, page.Status);
    }

    [Fact]
    public async Task Metrics_and_the_admin_page_refuse_a_non_loopback_peer_as_the_admin_api_does()
    {
        var address = NetworkAddresses.NonLoopbackIPv4();
        _own = await StartOwnGatewayAsync(o => o.BindAddress = "0.0.0.0", "gateway on every interface");
        var gateway = _own.Gateway;
        var pageFromLoopback = await gateway.Admin.GetAsync("/admin/");
        var metricsFromLoopback = await gateway.Admin.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, pageFromLoopback.Status);
        Assert.Equal(HttpStatusCode.OK, metricsFromLoopback.Status);
        if (address is null)
        {
            Output.WriteLine("This machine has no non-loopback IPv4 address; only the loopback side is checked.");
            return;
        }

        using var remote = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = new Uri($"http://{address}:{gateway.Port}"), Timeout = TestTimeouts.Default };
        using var list = await remote.GetAsync("/tapr/ws/conn/list");
        using var metrics = await remote.GetAsync("/metrics");
        using var page = await remote.GetAsync("/admin/");
        using var script = await remote.GetAsync("/admin/admin.js");
        using var feed = await remote.GetAsync("/admin/feed");

        var refusal = await list.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.Forbidden, list.StatusCode);
        foreach (var response in new[] { metrics, page, script, feed })
        {
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.Equal(refusal, await response.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task The_page_is_served_from_the_binary_with_its_script_and_style()
    {
        var admin = Gateway.Admin;

        var index = await admin.GetAsync("/admin/");
        var script = await admin.GetAsync("/admin/admin.js");
        var style = await admin.GetAsync("/admin/admin.css");
        var missing = await admin.GetAsync("/admin/nope.js");
        using var bare = await Gateway.Http.GetAsync(new Uri("/admin", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, index.Status);
        Assert.Equal("text/html; charset=utf-8", index.ContentType);
        Assert.Equal("text/javascript; charset=utf-8", script.ContentType);
        Assert.Equal("text/css; charset=utf-8", style.ContentType);
        Assert.Contains("/tapr/ws/conn/list", script.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("http://", index.Text.Replace("http://www.w3.org", string.Empty, StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.DoesNotContain("https://", index.Text, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, missing.Status);
        Assert.Equal(HttpStatusCode.Redirect, bare.StatusCode);
        Assert.Equal("/admin/", bare.Headers.Location?.OriginalString);
    }

    [Fact]
    public async Task The_live_feed_streams_figures_as_server_sent_events()
    {
        _own = await StartOwnGatewayAsync();
        var user = UniqueUser("feed");
        await ConnectAndOpenAsync(user, host: _own);

        using var request = new HttpRequestMessage(HttpMethod.Get, "/admin/feed");
        using var cancel = new CancellationTokenSource(TestTimeouts.Default);
        using var response = await _own.Gateway.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel.Token);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancel.Token));
        string? figures = null;
        while (figures is null)
        {
            var line = await reader.ReadLineAsync(cancel.Token) ?? throw new InvalidOperationException("The feed ended.");
            if (line.StartsWith("data: ", StringComparison.Ordinal) && line.Contains("\"connections\":1,", StringComparison.Ordinal))
            {
                figures = line;
            }
        }

        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("\"users\":1,", figures, StringComparison.Ordinal);
        Assert.Contains("\"messagesInPerSecond\":", figures, StringComparison.Ordinal);
        Assert.Contains("\"callbackPending\":", figures, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Console_logs_are_json_when_configured()
    {
        _own = await StartOwnGatewayAsync(o => o.Environment["Logging__Console__FormatterName"] = "json", "gateway with JSON logs");

        var started = await _own.Gateway.Output.WaitForAsync(l => l.Contains("Gateway started", StringComparison.Ordinal));

        using var entry = System.Text.Json.JsonDocument.Parse(started);
        Assert.Equal("Information", entry.RootElement.GetProperty("LogLevel").GetString());
        Assert.Equal("Gateway.Hosting.GatewayLifetime", entry.RootElement.GetProperty("Category").GetString());
        Assert.True(entry.RootElement.GetProperty("State").TryGetProperty("MaxConnections", out _));
    }

    /// <summary>
    /// Waits for the one admin send's <c>gateway.admin.request.duration</c>: the admin endpoints time a request once
    /// its response is written, which may be after the client has it.
    /// </summary>
    private static async Task WaitForAdminSendTimedAsync(AdminClient admin)
    {
        await Wait.UntilAsync(
            async () => await admin.MetricOrNullAsync("gateway_admin_request_duration_seconds_count", ("http_route", "/tapr/ws/conn/send")) >= 1,
            what: "the admin send's gateway.admin.request.duration");
        Assert.Equal(1, await admin.MetricAsync("gateway_admin_request_duration_seconds_count", ("http_route", "/tapr/ws/conn/send")));
    }
}
