using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Jac;

/// <summary>Without <c>Gateway:Jac:TokenSecret</c> (the default gateway) every jac connection is the public user.</summary>
[Collection(SharedGatewayCollection.Name)]
public sealed class JacWithoutSecretSpecs(SharedGatewayFixture fixture, ITestOutputHelper output) : JacSpec(fixture.Host, output)
{
    [Theory]
    [InlineData("")]
    [InlineData(JacTokens.Secret)]
    public async Task Every_token_gives_the_public_user(string secret)
    {
        var token = JacTokens.ForRoot(JacTokens.NewRootHex(), secret);

        var client = await ConnectJacAsync(token);
        var open = await App.WaitForActionAsync(client.ClientId, "open");

        Assert.Equal(JacWire.ConnectionEvent(client.ClientId, PublicRoot, client.ChannelId), client.Greeting);
        Assert.Equal(ExpectedCallback("open", PublicRoot, client.ClientId, string.Empty, accessPublic: true), open.BodyText);
    }
}
