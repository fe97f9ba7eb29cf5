namespace Gateway.IntegrationTests.Jac;

/// <summary>
/// PROTOCOL.md §5 <c>change_user</c>: re-authentication moves the connection to the token's root (the connection
/// event comes again, same client and channel ids); an invalid token makes it public; a null or empty token goes
/// back to the handshake's token.
/// </summary>
[Collection(JacGatewayCollection.Name)]
public sealed class ChangeUserSpecs(JacGatewayFixture fixture, ITestOutputHelper output) : JacSpec(fixture.Host, output)
{
    private const string One = "{\"code\":0,\"data\":{\"matched\":1,\"enqueued\":1,\"dropped\":0},\"message\":\"success\"}";

    [Fact]
    public async Task A_valid_token_moves_the_connection_to_its_root_keeping_client_and_channel_ids()
    {
        var oldHex = JacTokens.NewRootHex();
        var newHex = JacTokens.NewRootHex();
        var newToken = JacTokens.ForRoot(newHex);
        var channel = "moving-" + oldHex;
        var client = await ConnectAsRootAsync(oldHex, "channel_id=" + channel);
        var stayer = await ConnectAsRootAsync(oldHex);

        await client.SendAsync($"{{\"type\":\"change_user\",\"token\":\"{newToken}\"}}");
        var again = await client.ReceiveTextAsync();

        Assert.Equal(JacWire.ConnectionEvent(client.ClientId, JacWire.Root(newHex), channel), again);

        // The admin API addresses it by its new root only.
        Assert.Equal(One, (await Gateway.Admin.SendAsync($"{{\"users\":[\"{JacWire.Root(newHex)}\"],\"payload\":{{\"to\":\"new\"}}}}")).Text);
        Assert.Equal(One, (await Gateway.Admin.SendAsync($"{{\"users\":[\"{JacWire.Root(oldHex)}\"],\"payload\":{{\"to\":\"old\"}}}}")).Text);
        Assert.Equal("{\"to\":\"new\"}", await client.ReceiveTextAsync());
        Assert.Equal("{\"to\":\"old\"}", await stayer.ReceiveTextAsync());

        // So do user events.
        await stayer.SendAsync($"{{\"type\":\"user\",\"root_ids\":[\"{JacWire.Root(oldHex)}\"],\"data\":{{\"ev\":\"old\"}}}}");
        await stayer.SendAsync($"{{\"type\":\"user\",\"root_ids\":[\"{JacWire.Root(newHex)}\"],\"data\":{{\"ev\":\"new\"}}}}");
        Assert.Equal("{\"ev\":\"new\"}", await client.ReceiveTextAsync());
        Assert.Equal("{\"ev\":\"old\"}", await stayer.ReceiveTextAsync());

        var listed = Assert.Single(await ListedConnection.FindAsync(Gateway, client.ClientId));
        Assert.Equal(JacWire.Root(newHex), listed.User);
        Assert.False(listed.IsPublic);
        Assert.Equal(newToken, listed.Token);
        Assert.Equal([channel], listed.Channels);
    }

    [Fact]
    public async Task After_a_change_the_apps_callbacks_carry_the_new_root_and_token()
    {
        var newHex = JacTokens.NewRootHex();
        var newToken = JacTokens.ForRoot(newHex);
        var client = await ConnectAsRootAsync();
        await client.SendAsync($"{{\"type\":\"change_user\",\"token\":\"{newToken}\"}}");
        await client.ReceiveTextAsync();
        const string walker = "{\"type\":\"walker\",\"walker\":\"after_change\",\"response\":false,\"context\":{}}";

        await client.SendAsync(walker);
        var message = await App.WaitForActionAsync(client.ClientId, "message");
        await client.Socket.CloseAsync();
        var close = await App.WaitForActionAsync(client.ClientId, "close");

        Assert.Equal(ExpectedCallback("message", JacWire.Root(newHex), client.ClientId, newToken, accessPublic: false, data: walker), message.BodyText);
        Assert.Equal(ExpectedCallback("close", JacWire.Root(newHex), client.ClientId, newToken, accessPublic: false), close.BodyText);
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("expired")]
    [InlineData("wrong secret")]
    public async Task An_invalid_token_makes_the_connection_public(string kind)
    {
        var hex = JacTokens.NewRootHex();
        var token = kind switch
        {
            "garbage" => "not-a-jwt",
            "expired" => JacTokens.Sign($"{{\"root_id\":\"{JacTokens.NewRootHex()}\",\"exp\":{JacTokens.Past}}}"),
            _ => JacTokens.ForRoot(JacTokens.NewRootHex(), "another-secret"),
        };
        var client = await ConnectAsRootAsync(hex);

        await client.SendAsync($"{{\"type\":\"change_user\",\"token\":\"{token}\"}}");
        var again = await client.ReceiveTextAsync();

        Assert.Equal(JacWire.ConnectionEvent(client.ClientId, PublicRoot, client.ChannelId), again);
        Assert.Equal(
            "{\"code\":0,\"data\":{\"matched\":0,\"enqueued\":0,\"dropped\":0},\"message\":\"success\"}",
            (await Gateway.Admin.SendAsync($"{{\"users\":[\"{JacWire.Root(hex)}\"],\"payload\":1}}")).Text);
        Assert.Equal(One, (await Gateway.Admin.SendAsync($"{{\"users\":[\"{PublicRoot}\"],\"users_access_type\":2,\"conn_id\":\"{client.ClientId}\",\"payload\":2}}")).Text);
        Assert.Equal("2", await client.ReceiveTextAsync());
        var listed = Assert.Single(await ListedConnection.FindAsync(Gateway, client.ClientId));
        Assert.Equal(PublicRoot, listed.User);
        Assert.True(listed.IsPublic);
        Assert.Equal(string.Empty, listed.Token);
    }

    [Theory]
    [InlineData("{\"type\":\"change_user\",\"token\":null}", "header")]
    [InlineData("{\"type\":\"change_user\",\"token\":\"\"}", "header")]
    [InlineData("{\"type\":\"change_user\"}", "header")]
    [InlineData("{\"type\":\"change_user\",\"token\":null}", "query")]
    [InlineData("{\"type\":\"change_user\",\"token\":\"\"}", "query")]
    public async Task A_null_or_empty_token_goes_back_to_the_handshake_token(string reset, string carrier)
    {
        var hex = JacTokens.NewRootHex();
        var token = JacTokens.ForRoot(hex);
        var client = carrier == "header" ? await ConnectJacAsync(token) : await ConnectJacAsync(query: "auth=Bearer%20" + token);
        await client.SendAsync($"{{\"type\":\"change_user\",\"token\":\"{JacTokens.ForRoot(JacTokens.NewRootHex())}\"}}");
        Assert.NotEqual(JacWire.Root(hex), JacClient.Field(await client.ReceiveTextAsync(), "root_id"));

        await client.SendAsync(reset);
        var again = await client.ReceiveTextAsync();

        Assert.Equal(JacWire.ConnectionEvent(client.ClientId, JacWire.Root(hex), client.ChannelId), again);
        Assert.Equal(One, (await Gateway.Admin.SendAsync($"{{\"users\":[\"{JacWire.Root(hex)}\"],\"payload\":3}}")).Text);
        Assert.Equal("3", await client.ReceiveTextAsync());
        var listed = Assert.Single(await ListedConnection.FindAsync(Gateway, client.ClientId));
        Assert.Equal(token, listed.Token);
    }

    [Fact]
    public async Task Without_a_handshake_token_a_null_token_goes_back_to_the_public_user()
    {
        var client = await ConnectJacAsync();
        await client.SendAsync($"{{\"type\":\"change_user\",\"token\":\"{JacTokens.ForRoot(JacTokens.NewRootHex())}\"}}");
        Assert.NotEqual(PublicRoot, JacClient.Field(await client.ReceiveTextAsync(), "root_id"));

        await client.SendAsync("{\"type\":\"change_user\",\"token\":null}");

        Assert.Equal(JacWire.ConnectionEvent(client.ClientId, PublicRoot, client.ChannelId), await client.ReceiveTextAsync());
        var listed = Assert.Single(await ListedConnection.FindAsync(Gateway, client.ClientId));
        Assert.True(listed.IsPublic);
        Assert.Equal(PublicRoot, listed.User);
    }
}
