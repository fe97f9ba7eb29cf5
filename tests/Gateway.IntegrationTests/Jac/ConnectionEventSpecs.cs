namespace Gateway.IntegrationTests.Jac;

/// <summary>PROTOCOL.md §5: the connection event on accept, client and channel ids, and <c>{"type":"connection"}</c>.</summary>
[Collection(JacGatewayCollection.Name)]
public sealed class ConnectionEventSpecs(JacGatewayFixture fixture, ITestOutputHelper output) : JacSpec(fixture.Host, output)
{
    [Fact]
    public async Task The_connection_event_is_the_first_frame_with_exact_bytes_and_key_order()
    {
        var before = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        var client = await ConnectJacAsync();
        var after = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        Assert.Equal(JacWire.ConnectionEvent(client.ClientId, PublicRoot, client.ChannelId), client.Greeting);
        JacWire.AssertId(client.ClientId, before, after);
        JacWire.AssertId(client.ChannelId, before, after);
        Assert.NotEqual(client.ClientId, client.ChannelId);
        await client.AssertNoMessageAsync();
    }

    [Fact]
    public async Task The_app_gets_open_and_close_with_the_root_as_user_name_and_the_client_id_as_conn_id()
    {
        var hex = JacTokens.NewRootHex();
        var token = JacTokens.ForRoot(hex);
        var client = await ConnectJacAsync(token);
        var open = await App.WaitForActionAsync(client.ClientId, "open");

        await client.Socket.CloseAsync();
        var close = await App.WaitForActionAsync(client.ClientId, "close");

        Assert.Equal(ExpectedCallback("open", JacWire.Root(hex), client.ClientId, token, accessPublic: false), open.BodyText);
        Assert.Equal(ExpectedCallback("close", JacWire.Root(hex), client.ClientId, token, accessPublic: false), close.BodyText);
        Assert.Equal("application/json", open.ContentType);
        await App.AssertNoMoreAsync(r => r.ConnId == client.ClientId, allowed: 2, what: "callbacks of the connection");
    }

    [Fact]
    public async Task A_public_connection_gets_open_with_the_public_root_an_empty_token_and_access_public()
    {
        var client = await ConnectJacAsync();

        var open = await App.WaitForActionAsync(client.ClientId, "open");

        Assert.Equal(ExpectedCallback("open", PublicRoot, client.ClientId, string.Empty, accessPublic: true), open.BodyText);
    }

    [Fact]
    public async Task Every_connection_gets_its_own_client_id_and_channel_id()
    {
        var clients = new List<JacClient>();
        for (var i = 0; i < 5; i++)
        {
            clients.Add(await ConnectJacAsync());
        }

        var ids = clients.SelectMany(c => new[] { c.ClientId, c.ChannelId }).ToList();
        Assert.Equal(ids.Count, ids.Distinct(StringComparer.Ordinal).Count());
    }

    [Theory]
    [InlineData("room-42", "room-42")]
    [InlineData("room%2F42%20caf%C3%A9", "room/42 café")]
    [InlineData("a+b%2Bc%26d%3De", "a b+c&d=e")]
    [InlineData("%22quoted%22%20%5Cback", "\"quoted\" \\back")]
    [InlineData("1700000000:0123456789abcdef0123456789abcdef", "1700000000:0123456789abcdef0123456789abcdef")]
    public async Task The_channel_id_query_parameter_is_the_channel_url_decoded(string raw, string decoded)
    {
        var channel = decoded + "-" + Guid.NewGuid().ToString("N")[..8];
        var query = "channel_id=" + raw + "-" + channel[^8..];

        var client = await ConnectJacAsync(query: query);
        await App.WaitForActionAsync(client.ClientId, "open");
        var send = await Gateway.Admin.SendAsync($"{{\"channels\":[{JacWire.Quote(channel)}],\"payload\":{{\"to\":\"channel\"}}}}");

        Assert.Equal(JacWire.ConnectionEvent(client.ClientId, PublicRoot, channel), client.Greeting);
        Assert.Equal("{\"code\":0,\"data\":{\"matched\":1,\"enqueued\":1,\"dropped\":0},\"message\":\"success\"}", send.Text);
        Assert.Equal("{\"to\":\"channel\"}", await client.ReceiveTextAsync());
    }

    [Fact]
    public async Task An_empty_channel_id_query_parameter_gets_a_new_channel_id()
    {
        var before = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        var client = await ConnectJacAsync(query: "channel_id=");

        JacWire.AssertId(client.ChannelId, before, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        Assert.Equal(JacWire.ConnectionEvent(client.ClientId, PublicRoot, client.ChannelId), client.Greeting);
    }

    [Fact]
    public async Task A_connection_event_request_gets_the_same_connection_event_again_and_is_not_forwarded()
    {
        var hex = JacTokens.NewRootHex();
        var client = await ConnectAsRootAsync(hex, query: "channel_id=again-" + hex);

        await client.SendAsync("{\"type\":\"connection\"}");
        var first = await client.ReceiveTextAsync();
        await client.SendAsync("{ \"type\" : \"connection\", \"extra\": [1, {\"ignored\": true}] }");
        var second = await client.ReceiveTextAsync();

        var expected = JacWire.ConnectionEvent(client.ClientId, JacWire.Root(hex), "again-" + hex);
        Assert.Equal(expected, client.Greeting);
        Assert.Equal(expected, first);
        Assert.Equal(expected, second);
        await App.AssertNoMoreAsync(r => r.ConnId == client.ClientId && r.Action == "message", allowed: 0, what: "message callbacks");
    }
}
