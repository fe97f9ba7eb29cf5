using System.Text;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Edge;

/// <summary>
/// Issue 10, findings 4 and 5, and RFC 6455 §4.2.1 / RFC 9110 / RFC 9112 on the opening handshake: the lean path
/// and Kestrel's HTTP path answer every request head alike, because one validation judges both; a client's
/// mistake is a 4xx, never a 500 or an error in the log; and the 101 carries only values the gateway validated.
/// </summary>
[Collection(EdgeGatewaysCollection.Name)]
public sealed class HandshakeValidationSpecs(EdgeGatewaysFixture fixture, ITestOutputHelper output) : EdgeSpec(fixture, output)
{
    private const string Key = "dGhlIHNhbXBsZSBub25jZQ==";

    /// <summary>Request heads (and bodies) a client library would not send, with the answer both paths must give.</summary>
    public static TheoryData<string, string, int> Malformed => new()
    {
        { "bare LF inside a header value (header injection)", Request(extra: ["Sec-WebSocket-Protocol: chat\nX-Injected: yes"]), 400 },
        { "bare CR inside a header value (header injection)", Request(extra: ["Sec-WebSocket-Protocol: chat\rX-Injected: yes"]), 400 },
        { "bare LF ending a header line", Request(extra: ["X-Test: a\nX-Injected: yes"]), 400 },
        { "NUL in a header value", Request(extra: ["X-Test: a\0b"]), 400 },
        { "a control character in a header value", Request(extra: ["X-Test: a\u0001b"]), 400 },
        { "DEL in a header value", Request(extra: ["X-Test: a\u007Fb"]), 400 },
        { "whitespace between a header name and its colon", Request(extra: ["X-Test : a"]), 400 },
        { "a header name that is not a token", Request(extra: ["X(Test): a"]), 400 },
        { "a header line without a colon", Request(extra: ["X-Test"]), 400 },
        { "an obsolete folded header line", Request(extra: ["X-Test: a", " folded"]), 400 },
        { "two spaces in the request line", Request(requestLine: "GET  /ws HTTP/1.1"), 400 },
        { "HTTP/1.0", Request(requestLine: "GET /ws HTTP/1.0"), 400 },
        { "a fragment in the request target", Request(requestLine: "GET /ws?a=1#frag HTTP/1.1"), 400 },
        { "no Host", Request(host: null), 400 },
        { "two Host headers", Request(extra: ["Host: 127.0.0.1"]), 400 },
        { "a body with Content-Length", Request(extra: ["Content-Length: 5"], body: "hello"), 400 },
        { "a chunked body", Request(extra: ["Transfer-Encoding: chunked"], body: "5\r\nhello\r\n0\r\n\r\n"), 400 },
        { "a subprotocol that is not a token", Request(extra: ["Sec-WebSocket-Protocol: chat, a b"]), 400 },
        { "a subprotocol with a separator", Request(extra: ["Sec-WebSocket-Protocol: {chat}"]), 400 },
        { "two Sec-WebSocket-Key headers", Request(extra: ["Sec-WebSocket-Key: " + Key]), 400 },
        { "a key that is not 16 bytes", Request(key: "c2hvcnQ="), 400 },
        { "no key", Request(key: null), 400 },
        { "Sec-WebSocket-Version 8", Request(version: "8"), 426 },
        { "two Sec-WebSocket-Version headers", Request(extra: ["Sec-WebSocket-Version: 13"]), 426 },
        { "no Connection: Upgrade", Request(connection: "keep-alive"), 426 },
        { "Upgrade other than websocket", Request(upgrade: "h2c"), 426 },

        // Kestrel's rules for a request head, which the lean path must not be looser than (its HttpUtilities.IsHostHeaderValid
        // and KestrelServerLimits): each of these got a 101 on the lean path and a 4xx from Kestrel.
        { "a Host port that is not a number", Request(host: "127.0.0.1:abc"), 400 },
        { "a Host with an empty port", Request(host: "127.0.0.1:"), 400 },
        { "a Host with two ports", Request(host: "127.0.0.1:1:2"), 400 },
        { "a Host with a comma", Request(host: "a,b"), 400 },
        { "a Host with a semicolon", Request(host: "a;b"), 400 },
        { "a Host with an asterisk", Request(host: "a*b"), 400 },
        { "a Host with a plus", Request(host: "a+b"), 400 },
        { "a Host with an equals sign", Request(host: "a=b"), 400 },
        { "a percent-encoded Host", Request(host: "a%41b"), 400 },
        { "an IPv6 Host that is not hex", Request(host: "[zz::1]"), 400 },
        { "an IPv6 Host without its closing bracket", Request(host: "[::1"), 400 },
        { "a request line longer than Kestrel's MaxRequestLineSize", Request(requestLine: "GET /ws?t=" + new string('a', 9000) + " HTTP/1.1"), 414 },
        { "more headers than Kestrel's MaxRequestHeaderCount", Request(extra: [.. Enumerable.Range(0, 100).Select(i => $"X-H{i}: v")]), 431 },
    };

    /// <summary>Request heads at the edge of Kestrel's rules that it accepts: both paths must upgrade them.</summary>
    public static TheoryData<string, string> AcceptedByKestrel => new()
    {
        { "an empty Host (RFC 9112 §3.2)", Request(host: "") },
        { "a Host with a port", Request(host: "example.com:8080") },
        { "a Host with every sub-delimiter Kestrel allows", Request(host: "a!$&'()-._~b") },
        { "an IPv6 Host with a port", Request(host: "[::1]:8080") },
        { "a request line just under Kestrel's MaxRequestLineSize", Request(requestLine: "GET /ws?t=" + new string('a', 8000) + " HTTP/1.1") },
        { "as many headers as Kestrel's MaxRequestHeaderCount", Request(extra: [.. Enumerable.Range(0, 95).Select(i => $"X-H{i}: v")]) },
    };

    [Theory]
    [MemberData(nameof(Malformed), DisableDiscoveryEnumeration = true)]
    public async Task Both_paths_refuse_a_malformed_upgrade_alike_with_a_4xx_and_no_error_log(string what, string request, int expected)
    {
        var leanLine = Fixture.Lean.Gateway.Output.Count;
        var httpLine = Fixture.Http.Gateway.Output.Count;

        var lean = await SendAsync(Fixture.Lean, request);
        var http = await SendAsync(Fixture.Http, request);

        Assert.True(expected == lean.Status, $"{what}: the lean path answered {lean.StatusLine} {lean.BodyText}, expected {expected}");
        Assert.True(expected == http.Status, $"{what}: the HTTP path answered {http.StatusLine} {http.BodyText}, expected {expected}");
        Assert.Empty(lean.HeaderValues("X-Injected"));
        Assert.Empty(http.HeaderValues("X-Injected"));
        if (expected == 426 && request.Contains("Sec-WebSocket-Version: 8", StringComparison.Ordinal))
        {
            Assert.Equal(["13"], lean.HeaderValues("Sec-WebSocket-Version"));
            Assert.Equal(["13"], http.HeaderValues("Sec-WebSocket-Version"));
        }

        Assert.Empty(ErrorLines(Fixture.Lean, leanLine));
        Assert.Empty(ErrorLines(Fixture.Http, httpLine));
        await AssertStillServingAsync();
    }

    [Theory]
    [MemberData(nameof(AcceptedByKestrel), DisableDiscoveryEnumeration = true)]
    public async Task Both_paths_upgrade_a_head_at_the_edge_of_what_Kestrel_accepts(string what, string request)
    {
        var lean = await SendAsync(Fixture.Lean, request, keepOpen: true);
        var http = await SendAsync(Fixture.Http, request, keepOpen: true);

        Assert.True(lean.Status == 101, $"{what}: the lean path answered {lean.StatusLine} {lean.BodyText}");
        Assert.True(http.Status == 101, $"{what}: the HTTP path answered {http.StatusLine} {http.BodyText}");
    }

    [Theory]
    [InlineData("lean")]
    [InlineData("http")]
    public async Task A_valid_upgrade_gets_101_with_the_accept_key_and_the_validated_subprotocol_only(string path)
    {
        var response = await SendAsync(Fixture.For(path), Request(extra: ["Sec-WebSocket-Protocol: chat.v2, chat.v1", "Content-Length: 0"]), keepOpen: true);

        Assert.Equal(101, response.Status);
        Assert.Equal(["s3pPLMBiTxaQ9kYGzzhZRbK+xOo="], response.HeaderValues("Sec-WebSocket-Accept"));
        Assert.Equal(["chat.v2"], response.HeaderValues("Sec-WebSocket-Protocol"));
    }

    [Theory]
    [InlineData("lean")]
    [InlineData("http")]
    public async Task Upgrade_requests_with_a_body_answer_400_and_log_no_error_or_stack_trace(string path)
    {
        var host = Fixture.For(path);
        var line = host.Gateway.Output.Count;

        var withLength = await SendAsync(host, Request(extra: ["Content-Length: 5"], body: "hello"));
        var chunked = await SendAsync(host, Request(extra: ["Transfer-Encoding: chunked"], body: "5\r\nhello\r\n0\r\n\r\n"));

        Assert.Equal(400, withLength.Status);
        Assert.Equal(400, chunked.Status);
        Assert.Empty(ErrorLines(host, line));
        Assert.DoesNotContain(host.Gateway.Output.Since(line), l => l.Contains("Exception", StringComparison.Ordinal));
    }

    /// <summary>
    /// The head the RFC 6455 §1.2 example sends (its key, whose accept value is known), to <c>/ws</c> unless
    /// <paramref name="requestLine"/> says otherwise; null drops a header.
    /// </summary>
    private static string Request(
        string requestLine = "GET /ws HTTP/1.1",
        string? host = "127.0.0.1",
        string? upgrade = "websocket",
        string? connection = "Upgrade",
        string? version = "13",
        string? key = Key,
        string[]? extra = null,
        string body = "")
    {
        var builder = new StringBuilder(requestLine).Append("\r\n");
        void Add(string name, string? value)
        {
            if (value is not null)
            {
                builder.Append(name).Append(": ").Append(value).Append("\r\n");
            }
        }

        Add("Host", host);
        Add("Upgrade", upgrade);
        Add("Connection", connection);
        Add("Sec-WebSocket-Version", version);
        Add("Sec-WebSocket-Key", key);
        foreach (var line in extra ?? [])
        {
            builder.Append(line).Append("\r\n");
        }

        return builder.Append("\r\n").Append(body).ToString();
    }

    private async Task<RawHttpResponse> SendAsync(GatewayHost host, string request, bool keepOpen = false)
    {
        var (connection, response) = await RawHttp.SendAsync(host.Gateway.Port, request);
        if (keepOpen)
        {
            Track(connection);
        }
        else
        {
            await connection.DisposeAsync();
        }

        return response;
    }

    /// <summary>Both gateways still upgrade and serve a well-formed client.</summary>
    private async Task AssertStillServingAsync()
    {
        foreach (var host in new[] { Fixture.Lean, Fixture.Http })
        {
            await using var client = await WsClient.ConnectAsync(host.Gateway.WebSocketUri(), UniqueUser("after"));
            await client.SendTextAsync("{\"event\":\"ping\"}");
            Assert.Equal("{\"event\":\"pong\"}", await client.ReceiveTextAsync());
        }
    }
}
