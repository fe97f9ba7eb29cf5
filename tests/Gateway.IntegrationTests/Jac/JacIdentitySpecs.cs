using System.Globalization;

namespace Gateway.IntegrationTests.Jac;

/// <summary>PROTOCOL.md §5 identity: HS256 tokens from the header or <c>?auth=</c>; anything else is the public root.</summary>
[Collection(JacGatewayCollection.Name)]
public sealed class JacIdentitySpecs(JacGatewayFixture fixture, ITestOutputHelper output) : JacSpec(fixture.Host, output)
{
    public static TheoryData<string, string> InvalidTokens()
    {
        var data = new TheoryData<string, string>();
        foreach (var kind in new[] { "forged signature", "wrong secret", "expired exp", "expired expiration", "missing root_id", "non-string root_id", "alg none", "HS512", "garbage", "three garbage parts" })
        {
            data.Add(kind, "header");
            data.Add(kind, "query");
        }

        return data;
    }

    [Fact]
    public async Task A_bearer_token_in_the_authorization_header_gives_the_roots_identity()
    {
        var hex = JacTokens.NewRootHex();
        var token = JacTokens.ForRoot(hex);

        var client = await ConnectJacAsync(token);
        var open = await App.WaitForActionAsync(client.ClientId, "open");

        Assert.Equal(JacWire.ConnectionEvent(client.ClientId, "n::" + hex, client.ChannelId), client.Greeting);
        Assert.Equal(ExpectedCallback("open", "n::" + hex, client.ClientId, token, accessPublic: false), open.BodyText);
    }

    [Theory]
    [InlineData("auth={0}")]
    [InlineData("auth=Bearer%20{0}")]
    [InlineData("auth=Bearer+{0}")]
    [InlineData("channel_id=x&auth=Bearer%20{0}&other=1")]
    public async Task A_token_in_the_auth_query_parameter_gives_the_roots_identity(string queryFormat)
    {
        var hex = JacTokens.NewRootHex();
        var token = JacTokens.ForRoot(hex);

        var client = await ConnectJacAsync(query: string.Format(CultureInfo.InvariantCulture, queryFormat, token));
        var open = await App.WaitForActionAsync(client.ClientId, "open");

        Assert.Equal(JacWire.Root(hex), client.RootId);
        Assert.Equal(ExpectedCallback("open", JacWire.Root(hex), client.ClientId, token, accessPublic: false), open.BodyText);
    }

    [Fact]
    public async Task A_token_with_jac_clouds_own_expiration_claim_is_accepted()
    {
        var hex = JacTokens.NewRootHex();
        var token = JacTokens.Sign($"{{\"root_id\":\"{hex}\",\"name\":\"someone\",\"expiration\":{JacTokens.Future}}}");

        var client = await ConnectJacAsync(token);
        var open = await App.WaitForActionAsync(client.ClientId, "open");

        Assert.Equal(JacWire.Root(hex), client.RootId);
        Assert.Equal(ExpectedCallback("open", JacWire.Root(hex), client.ClientId, token, accessPublic: false), open.BodyText);
    }

    [Theory]
    [MemberData(nameof(InvalidTokens))]
    public async Task An_invalid_token_makes_the_connection_the_public_user(string kind, string carrier)
    {
        var hex = JacTokens.NewRootHex();
        var token = InvalidToken(kind, hex);

        var client = carrier == "header"
            ? await ConnectJacAsync(token)
            : await ConnectJacAsync(query: "auth=" + Uri.EscapeDataString(token));
        var open = await App.WaitForActionAsync(client.ClientId, "open");

        Assert.Equal(JacWire.ConnectionEvent(client.ClientId, PublicRoot, client.ChannelId), client.Greeting);
        Assert.Equal(ExpectedCallback("open", PublicRoot, client.ClientId, string.Empty, accessPublic: true), open.BodyText);
    }

    [Fact]
    public async Task Without_a_token_the_connection_is_the_public_user()
    {
        var client = await ConnectJacAsync();
        var open = await App.WaitForActionAsync(client.ClientId, "open");

        Assert.Equal(PublicRoot, client.RootId);
        Assert.Equal(ExpectedCallback("open", PublicRoot, client.ClientId, string.Empty, accessPublic: true), open.BodyText);
    }

    private static string InvalidToken(string kind, string hex)
    {
        var valid = $"{{\"root_id\":\"{hex}\",\"exp\":{JacTokens.Future}}}";
        switch (kind)
        {
            case "forged signature":
                // Another root's claims under this token's signature.
                var genuine = JacTokens.ForRoot(hex).Split('.');
                var other = JacTokens.Encode($"{{\"root_id\":\"{JacTokens.NewRootHex()}\",\"exp\":{JacTokens.Future}}}");
                return $"{genuine[0]}.{other}.{genuine[2]}";
            case "wrong secret":
                return JacTokens.Sign(valid, "not-the-gateways-secret");
            case "expired exp":
                return JacTokens.Sign($"{{\"root_id\":\"{hex}\",\"exp\":{JacTokens.Past}}}");
            case "expired expiration":
                return JacTokens.Sign($"{{\"root_id\":\"{hex}\",\"expiration\":{JacTokens.Past}}}");
            case "missing root_id":
                return JacTokens.Sign($"{{\"sub\":\"{hex}\",\"exp\":{JacTokens.Future}}}");
            case "non-string root_id":
                return JacTokens.Sign($"{{\"root_id\":12345,\"exp\":{JacTokens.Future}}}");
            case "alg none":
                return JacTokens.Unsigned(valid);
            case "HS512":
                return JacTokens.SignHs512(valid);
            case "garbage":
                return "not-a-jwt";
            case "three garbage parts":
                return "a.b.c";
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
    }
}
