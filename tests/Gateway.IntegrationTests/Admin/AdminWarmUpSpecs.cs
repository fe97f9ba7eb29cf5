using System.Globalization;
using System.Net;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Admin;

/// <summary>
/// The start-up warm-up (<c>Gateway:Admin:WarmUpRequests</c>): the gateway's admin sends to itself are answered, reach
/// no connection and the app hears nothing of them, and no metric counts them; a real send right after is counted. (A warm-up of 0 sends: AdminWarmUpSpecs in Gateway.Tests.)
/// </summary>
public sealed class AdminWarmUpSpecs(ITestOutputHelper output) : GatewaySpec(output)
{
    private const string DebugLog = "Logging__LogLevel__Gateway.Admin.AdminWarmUp";

    /// <summary>
    /// The gateway's defaults (the harness turns the warm-up off), with the warm-up's debug lines logged; then
    /// <paramref name="configure"/>.
    /// </summary>
    private static Action<GatewayProcessOptions> WarmingUp(Action<GatewayProcessOptions>? configure = null) => o =>
    {
        o.Environment["Gateway__Admin__WarmUpRequests"] = null;
        o.Environment[DebugLog] = "Debug";
        configure?.Invoke(o);
    };

    /// <summary>The warm-up's last line: how many sends were answered, or why it stopped.</summary>
    private static Task<string> WarmUpEndAsync(GatewayProcess gateway) =>
        gateway.Output.WaitForAsync(l => l.Contains("AdminWarmUp[92", StringComparison.Ordinal), what: "the warm-up's end");

    [Fact]
    public async Task The_warm_up_is_answered_and_leaves_no_frame_callback_or_metric_and_a_real_send_after_it_is_counted()
    {
        var host = await StartOwnGatewayAsync(WarmingUp(), "gateway warming up");
        var gateway = host.Gateway;
        var user = UniqueUser("warm-up");
        var (client, open) = await ConnectAndOpenAsync(user, host: host);

        Assert.Contains($"Warm-up: 100 admin sends to http://127.0.0.1:{gateway.Port}/ answered", await WarmUpEndAsync(gateway), StringComparison.Ordinal);
        var scrape = PrometheusText.Parse((await gateway.Admin.GetAsync("/metrics")).Text);

        Assert.DoesNotContain(scrape, s => s.Name == "gateway_admin_request_duration_seconds_count");
        Assert.DoesNotContain(scrape, s => s.Name == "gateway_send_fanout_count");
        Assert.DoesNotContain(scrape, s => s.Name == "http_server_request_duration_seconds_count" && s.Labels.GetValueOrDefault("http_route") == "/tapr/ws/conn/send");
        Assert.DoesNotContain(scrape, s => s.Name == "http_client_request_duration_seconds_count" && s.Labels.GetValueOrDefault("server_port") == gateway.Port.ToString(CultureInfo.InvariantCulture));
        Assert.Equal(0, await gateway.Admin.MetricAsync("gateway_message_sent_total"));
        Assert.Equal(["open"], host.App.Requests.Select(r => r.Action));

        // A marker with another value is an ordinary send: delivered and counted.
        using var marked = new HttpRequestMessage(HttpMethod.Post, "/tapr/ws/conn/send")
        {
            Content = new StringContent($"{{\"users\":[\"{user}\"],\"payload\":\"first\"}}", System.Text.Encoding.UTF8, "application/json"),
        };
        marked.Headers.Add("Gateway-Warm-Up", "not-the-secret");
        var receipt = await gateway.Admin.SendRequestAsync(marked);

        Assert.Equal(HttpStatusCode.OK, receipt.Status);
        Assert.Contains("\"matched\":1,\"enqueued\":1", receipt.Text, StringComparison.Ordinal);
        Assert.Equal("\"first\"", await client.ReceiveTextAsync()); // the first frame this socket got
        // The admin endpoints time a request once its response is written.
        await Wait.UntilAsync(
            async () => await gateway.Admin.MetricOrNullAsync("gateway_admin_request_duration_seconds_count", ("http_route", "/tapr/ws/conn/send")) == 1,
            what: "the real send's gateway.admin.request.duration");
        Assert.Equal(1, await gateway.Admin.MetricAsync("gateway_send_fanout_count"));
        Assert.Equal(1, await gateway.Admin.MetricAsync("gateway_message_sent_total"));
        // ASP.NET Core records a request's duration once its response has completed.
        await Wait.UntilAsync(
            async () => await gateway.Admin.MetricOrNullAsync("http_server_request_duration_seconds_count", ("http_route", "/tapr/ws/conn/send")) == 1,
            what: "the real send's http.server.request.duration");
        Assert.Equal(open.ConnId, host.App.Requests.Single().ConnId);
    }

    [Fact]
    public async Task The_warm_up_goes_to_the_admin_port_with_the_admin_token()
    {
        var adminPort = GatewayProcess.GetFreePort();
        var host = await StartOwnGatewayAsync(
            WarmingUp(o =>
            {
                o.With("Admin", "Token", "warm-token").With("Admin", "Port", adminPort.ToString(CultureInfo.InvariantCulture));
                o.BindAddress = "0.0.0.0";
            }),
            "gateway with an admin port and token, on every interface");

        Assert.Contains($"Warm-up: 100 admin sends to http://127.0.0.1:{adminPort}/ answered", await WarmUpEndAsync(host.Gateway), StringComparison.Ordinal);
    }

    [Fact]
    public async Task WarmUpRequests_sets_how_many_sends_the_warm_up_makes()
    {
        var host = await StartOwnGatewayAsync(WarmingUp(o => o.With("Admin", "WarmUpRequests", "25")), "gateway warming up with 25");

        Assert.Contains("Warm-up: 25 admin sends", await WarmUpEndAsync(host.Gateway), StringComparison.Ordinal);
    }
}
