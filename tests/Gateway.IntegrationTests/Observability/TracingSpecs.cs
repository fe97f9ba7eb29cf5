using System.Text.RegularExpressions;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Observability;

/// <summary>
/// Issue 13, traces: with OTLP switched on (<c>OTEL_EXPORTER_OTLP_ENDPOINT</c>, here the test's app server,
/// which records the exporter's posts too), every callback carries a W3C <c>traceparent</c>, and an admin
/// request's <c>traceparent</c> makes its span a child of the app's, so one trace runs client message →
/// app → admin send → delivered. Without OTLP nothing is traced and no header is sent.
/// </summary>
[Collection(SharedGatewayCollection.Name)]
public sealed partial class TracingSpecs(SharedGatewayFixture fixture, ITestOutputHelper output) : GatewaySpec(fixture.Host, output)
{
    [Fact]
    public async Task Callbacks_carry_a_traceparent_and_an_admin_send_joins_the_apps_trace()
    {
        var host = await StartOwnGatewayAsync(TracedTo, "traced gateway");
        var user = UniqueUser("traced");
        var (client, open) = await ConnectAndOpenAsync(user, host: host);
        await client.SendTextAsync("{\"event\":\"question\"}");
        var message = await host.App.WaitForAsync(r => r.ConnId == open.ConnId && r.Action == "message");

        var openTrace = TraceParent().Match(open.Headers.GetValueOrDefault("traceparent") ?? string.Empty);
        var messageTrace = TraceParent().Match(message.Headers.GetValueOrDefault("traceparent") ?? string.Empty);
        Assert.True(openTrace.Success, $"open callback traceparent: {open.Headers.GetValueOrDefault("traceparent")}");
        Assert.True(messageTrace.Success, $"message callback traceparent: {message.Headers.GetValueOrDefault("traceparent")}");
        Assert.NotEqual(openTrace.Groups["trace"].Value, messageTrace.Groups["trace"].Value);

        // The app answers inside the message's trace with a span of its own, then pushes to the client.
        var traceId = messageTrace.Groups["trace"].Value;
        var appSpanId = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()[..8]);
        using var send = new HttpRequestMessage(HttpMethod.Post, "/tapr/ws/conn/send")
        {
            Content = new StringContent($"{{\"conn_id\":\"{open.ConnId}\",\"payload\":{{\"event\":\"answer\"}}}}"),
        };
        send.Headers.TryAddWithoutValidation("traceparent", $"00-{traceId}-{appSpanId}-01");
        var receipt = await host.Gateway.Admin.SendRequestAsync(send);
        Assert.Equal("{\"event\":\"answer\"}", await client.ReceiveTextAsync());
        Assert.Equal("{\"code\":0,\"data\":{\"matched\":1,\"enqueued\":1,\"dropped\":0},\"message\":\"success\"}", receipt.Text);

        // The exporter posts the spans: the admin span in the same trace with the app's span as parent,
        // and the message's delivery span in that trace too.
        var traceBytes = Convert.FromHexString(traceId);
        var appSpanBytes = Convert.FromHexString(appSpanId);
        await host.App.WaitForAsync(
            r => r.Path == "/v1/traces" && Contains(r.Body, "admin send"u8) && Contains(r.Body, traceBytes) && Contains(r.Body, appSpanBytes),
            TestTimeouts.Long,
            "the admin send span, child of the app's span, exported over OTLP");
        await host.App.WaitForAsync(
            r => r.Path == "/v1/traces" && Contains(r.Body, "callback message"u8) && Contains(r.Body, traceBytes),
            TestTimeouts.Long,
            "the message's delivery span exported over OTLP");
    }

    [Fact]
    public async Task A_retried_callback_keeps_one_trace_across_its_attempts()
    {
        var host = await StartOwnGatewayAsync(o =>
        {
            TracedTo(o);
            o.With("Callback", "RetryBaseDelay", "00:00:00.050");
        }, "traced gateway");
        host.App.FailNext(2, 503);
        var user = UniqueUser("retried");
        await using var client = await ConnectAsync(user, host: host);

        var attempts = await host.App.WaitUntilAsync(
            requests => requests.Count(r => r.Action == "open" && r.UserName == user) >= 3,
            what: "two failed open attempts and a delivered one");
        var opens = attempts.Where(r => r.Action == "open" && r.UserName == user).ToList();
        var traces = opens.Select(r => TraceParent().Match(r.Headers.GetValueOrDefault("traceparent") ?? string.Empty)).ToList();

        Assert.All(traces, t => Assert.True(t.Success));
        Assert.Single(traces.Select(t => t.Value).Distinct());
        Assert.Equal([503, 503, 200], opens.Select(r => r.Status));
    }

    [Fact]
    public async Task Without_an_exporter_callbacks_carry_no_traceparent()
    {
        var user = UniqueUser("untraced");
        var (client, open) = await ConnectAndOpenAsync(user);
        await client.SendTextAsync("{\"event\":\"plain\"}");
        var message = await App.WaitForAsync(r => r.ConnId == open.ConnId && r.Action == "message");

        Assert.False(open.Headers.ContainsKey("traceparent"));
        Assert.False(message.Headers.ContainsKey("traceparent"));
    }

    /// <summary>OTLP over HTTP to the test's own app server, exported promptly.</summary>
    private static void TracedTo(GatewayProcessOptions options)
    {
        options.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = options.CallbackUrl!.GetLeftPart(UriPartial.Authority);
        options.Environment["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf";
        options.Environment["OTEL_BSP_SCHEDULE_DELAY"] = "100";
        options.Environment["OTEL_METRIC_EXPORT_INTERVAL"] = "3600000";
    }

    private static bool Contains(byte[] body, ReadOnlySpan<byte> part) => body.AsSpan().IndexOf(part) >= 0;

    [GeneratedRegex("^00-(?<trace>[0-9a-f]{32})-(?<span>[0-9a-f]{16})-0[01]$")]
    private static partial Regex TraceParent();
}
