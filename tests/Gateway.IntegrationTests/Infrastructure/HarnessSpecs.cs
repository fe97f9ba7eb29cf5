using System.Net;
using System.Text;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>The harness itself: what the fault, shutdown and limit specs rely on.</summary>
public sealed class HarnessSpecs(ITestOutputHelper output)
{
    [Fact]
    public async Task The_app_server_records_bodies_and_cookies_and_answers_as_scripted()
    {
        await using var app = await AppServer.StartAsync();
        using var http = new HttpClient(new SocketsHttpHandler { UseCookies = false }) { BaseAddress = new Uri($"http://127.0.0.1:{app.Port}") };
        app.FailNext(2, status: 503);
        app.Responder = request => request.BodyText.Contains("custom", StringComparison.Ordinal) ? new AppReply(202, "{\"ok\":true}") : null;

        var first = await PostAsync(http, "{\"n\":1}", cookie: "a=1");
        var second = await PostAsync(http, "{\"n\":2}", cookie: string.Empty);
        var third = await PostAsync(http, "{\"n\":3}", cookie: null);
        var custom = await PostAsync(http, "{\"custom\":1}", cookie: null);

        Assert.Equal([HttpStatusCode.ServiceUnavailable, HttpStatusCode.ServiceUnavailable, HttpStatusCode.OK, HttpStatusCode.Accepted], new[] { first.Status, second.Status, third.Status, custom.Status });
        Assert.Equal("{\"ok\":true}", custom.Body);
        var requests = await app.WaitForCountAsync(4);
        Assert.Equal([0L, 1L, 2L, 3L], requests.Select(r => r.Sequence));
        Assert.Equal("{\"n\":1}"u8.ToArray(), requests[0].Body);
        Assert.Equal(("a=1", true), (requests[0].Cookie, requests[0].HasCookie));
        Assert.Equal((string.Empty, true), (requests[1].Cookie, requests[1].HasCookie));
        Assert.False(requests[2].HasCookie);
        Assert.Equal("application/json", requests[0].ContentType);
        Assert.Equal([false, false, true, true], requests.Select(r => r.Delivered));
    }

    [Fact]
    public async Task The_app_server_can_be_down_and_come_back_on_the_same_port()
    {
        await using var app = AppServer.CreateStopped();
        using var http = new HttpClient(new SocketsHttpHandler { UseCookies = false, ConnectTimeout = TimeSpan.FromSeconds(2) }) { BaseAddress = new Uri($"http://127.0.0.1:{app.Port}") };

        await Assert.ThrowsAsync<HttpRequestException>(() => PostAsync(http, "{}", null));
        await app.StartAsync();
        var up = await PostAsync(http, "{\"up\":1}", null);
        await app.StopAsync();
        await Assert.ThrowsAsync<HttpRequestException>(() => PostAsync(http, "{}", null));
        await app.StartAsync();
        var again = await PostAsync(http, "{\"up\":2}", null);

        Assert.Equal(HttpStatusCode.OK, up.Status);
        Assert.Equal(HttpStatusCode.OK, again.Status);
        Assert.Equal(2, app.Requests.Count);
    }

    [Fact]
    public async Task A_delayed_answer_is_recorded_at_arrival_and_marked_answered_later()
    {
        await using var app = await AppServer.StartAsync();
        app.Delay = TimeSpan.FromSeconds(3); // room for a stall of a loaded machine before the record is read
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{app.Port}") };

        var post = PostAsync(http, "{}", null);
        var recorded = await app.WaitForAsync(_ => true);
        var answeredAtArrival = recorded.Answered;
        await post;

        Assert.False(answeredAtArrival);
        await Wait.UntilAsync(() => recorded.Delivered, what: "the delayed answer");
    }

    [Fact]
    public async Task The_gateway_process_exits_on_sigterm_and_honours_ulimit()
    {
        var gateway = await GatewayProcess.StartAsync(new GatewayProcessOptions { FileDescriptorLimit = 4096 });
        await using var _ = gateway;
        var started = await gateway.Output.WaitForAsync(l => l.Contains("Gateway started", StringComparison.Ordinal));

        await gateway.SignalTerminateAsync();
        var exitCode = await gateway.WaitForExitAsync(TestTimeouts.Long);

        gateway.DumpOutput(output);
        Assert.Equal(0, exitCode);
        Assert.True(gateway.HasExited);

        // The connection cap is derived from the open-file limit, so a lower limit shows in it.
        Assert.Matches(@"at most \d+ WebSocket connections", started);
        var cap = int.Parse(System.Text.RegularExpressions.Regex.Match(started, @"at most (\d+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(cap, 1, 4096);
        Assert.Contains(gateway.Output.Lines, l => l.Contains("Application is shutting down", StringComparison.Ordinal));
    }

    private static async Task<(HttpStatusCode Status, string Body)> PostAsync(HttpClient http, string body, string? cookie)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, AppServer.CallbackPath) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Content.Headers.ContentType!.CharSet = null;
        if (cookie is not null)
        {
            request.Headers.TryAddWithoutValidation("Cookie", cookie);
        }

        using var response = await http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}
