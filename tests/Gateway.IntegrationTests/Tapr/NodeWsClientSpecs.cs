using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Tapr;

/// <summary>The same contract seen through the npm <c>ws</c> library, the client Olares apps use.</summary>
[Collection(SharedGatewayCollection.Name)]
public sealed class NodeWsClientSpecs(SharedGatewayFixture fixture, ITestOutputHelper output) : GatewaySpec(fixture.Host, output)
{
    [Fact]
    public async Task A_ws_client_ping_gets_exactly_pong_and_is_not_forwarded()
    {
        var node = await StartNodeAsync();
        var user = UniqueUser("nodeping");
        var client = await node.OpenAsync(Gateway.WebSocketUri(), Headers(user));
        var open = await App.WaitForOpenAsync(user);

        await client.SendTextAsync("{\"event\":\"ping\"}");
        var pong = await client.ReceiveAsync();
        await client.SendBinaryAsync("{\"event\":\"ping\"}"u8.ToArray());
        var binaryPong = await client.ReceiveAsync();
        await client.SendTextAsync("{\"event\":\"after\"}");
        await App.WaitForActionAsync(open.ConnId!, "message");

        Assert.True(pong.IsText && binaryPong.IsText, $"pongs are text frames: {pong}, {binaryPong}");
        Assert.Equal("{\"event\":\"pong\"}", pong.Text);
        Assert.Equal("{\"event\":\"pong\"}", binaryPong.Text);
        Assert.Equal(["{\"event\":\"after\"}"], App.ForConnection(open.ConnId!).Where(r => r.Action == "message").Select(r => r.DataJson));
    }

    [Fact]
    public async Task A_ws_client_receives_an_admin_send()
    {
        var node = await StartNodeAsync();
        var user = UniqueUser("nodesend");
        var client = await node.OpenAsync(Gateway.WebSocketUri(), Headers(user));
        await App.WaitForOpenAsync(user);
        const string payload = "{\"event\":\"notice\",\"data\":{\"n\":18446744073709551617,\"list\":[\"a\",\"b\"]}}";

        var response = await Gateway.Admin.SendAsync($"{{\"users\":[\"{user}\"],\"payload\":{payload}}}");
        var message = await client.ReceiveAsync();

        Assert.Equal("{\"code\":0,\"data\":{\"matched\":1,\"enqueued\":1,\"dropped\":0},\"message\":\"success\"}", response.Text);
        Assert.True(message.IsText);
        Assert.Equal(payload, message.Text);
    }

    [Fact]
    public async Task A_ws_clients_user_and_cookie_headers_reach_every_callback()
    {
        var node = await StartNodeAsync();
        var user = UniqueUser("nodehdr");
        var token = "nt-" + Guid.NewGuid().ToString("N");
        var cookie = $"auth_token={token}; other=1";
        var client = await node.OpenAsync(Gateway.WebSocketUri(), Headers(user, cookie, "node-ws-test/8"));
        var open = await App.WaitForOpenAsync(user);

        await client.SendTextAsync("{\"event\":\"chat\",\"text\":\"hi\"}");
        await App.WaitForActionAsync(open.ConnId!, "message");
        await client.CloseAsync(1000, "done");
        var closed = await client.WaitForCloseAsync();
        await App.WaitForActionAsync(open.ConnId!, "close");

        var callbacks = App.ForConnection(open.ConnId!);
        Assert.Equal(
            [
                ExpectedCallback("open", user, open.ConnId!, token, accessPublic: false),
                ExpectedCallback("message", user, open.ConnId!, token, accessPublic: false, data: "{\"event\":\"chat\",\"text\":\"hi\"}"),
                ExpectedCallback("close", user, open.ConnId!, token, accessPublic: false),
            ],
            callbacks.Select(c => c.BodyText));
        Assert.All(callbacks, c => Assert.Equal(cookie, c.Cookie));
        Assert.Equal(1000, closed.Code);
    }

    [Fact]
    public async Task A_ws_client_sees_the_admin_close_code_and_reason()
    {
        var node = await StartNodeAsync();
        var user = UniqueUser("nodeclose");
        var client = await node.OpenAsync(Gateway.WebSocketUri(), Headers(user));
        var open = await App.WaitForOpenAsync(user);

        var response = await Gateway.Admin.CloseAsync($"{{\"users\":[\"{user}\"],\"code\":4100,\"reason\":\"kicked by admin\"}}");
        var close = await client.WaitForCloseAsync();

        Assert.Equal("{\"code\":0,\"message\":\"success\"}", response.Text);
        Assert.Equal(new WsClose(4100, "kicked by admin", FrameReceived: true), close);
        await App.WaitForActionAsync(open.ConnId!, "close");
    }

    [Fact]
    public async Task A_ws_client_sees_1009_for_a_message_over_the_size_limit()
    {
        var node = await StartNodeAsync();
        var user = UniqueUser("nodebig");
        var client = await node.OpenAsync(Gateway.WebSocketUri(), Headers(user));
        var open = await App.WaitForOpenAsync(user);

        var send = client.SendTextAsync(new string('x', 2 * 1024 * 1024));
        var close = await client.WaitForCloseAsync();
        try
        {
            await send;
        }
        catch (System.Net.WebSockets.WebSocketException)
        {
            // The socket may be closed before ws has written everything.
        }

        Assert.Equal(1009, close.Code);
        await App.WaitForActionAsync(open.ConnId!, "close");
    }

    [Fact]
    public async Task A_ws_client_offering_two_subprotocols_accepts_the_one_selected()
    {
        var node = await StartNodeAsync();

        // ws rejects a handshake whose Sec-WebSocket-Protocol is not exactly one of those offered.
        var client = await node.OpenAsync(Gateway.WebSocketUri(), Headers(UniqueUser("nodeproto")), protocols: ["chat", "superchat"]);

        Assert.Equal("chat", client.Protocol);
    }

    [Fact]
    public async Task A_ws_client_is_refused_with_404_on_an_unknown_path()
    {
        var node = await StartNodeAsync();

        var error = await Assert.ThrowsAsync<System.Net.WebSockets.WebSocketException>(() => node.OpenAsync(new Uri(Gateway.WebSocketUri() + "x"), Headers(UniqueUser("node404"))));

        Assert.Contains("404", error.Message, StringComparison.Ordinal);
    }

    private static Dictionary<string, string> Headers(string user, string? cookie = null, string? userAgent = null)
    {
        var headers = new Dictionary<string, string> { ["X-Bfl-User"] = user };
        if (cookie is not null)
        {
            headers["Cookie"] = cookie;
        }

        if (userAgent is not null)
        {
            headers["User-Agent"] = userAgent;
        }

        return headers;
    }
}
