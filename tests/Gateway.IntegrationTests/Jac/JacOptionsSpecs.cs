using System.Net;
using System.Net.WebSockets;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Jac;

/// <summary><c>Gateway:Jac:Path</c>, <c>Gateway:Jac:RootIdClaim</c> and <c>Gateway:Jac:TokenSecret</c> honoured, on Kestrel's own upgrade path.</summary>
public sealed class JacOptionsSpecs(JacOptionsFixture fixture, ITestOutputHelper output) : JacSpec(fixture.Host, output), IClassFixture<JacOptionsFixture>
{
    [Fact]
    public async Task The_configured_path_serves_the_jac_dialect_and_the_default_path_is_unknown()
    {
        var client = await ConnectJacAsync(path: JacOptionsFixture.Path);
        using var notAnUpgrade = await Gateway.Http.GetAsync(JacOptionsFixture.Path);
        using var defaultPath = await Gateway.Http.GetAsync(JacPath);

        Assert.Equal(JacWire.ConnectionEvent(client.ClientId, PublicRoot, client.ChannelId), client.Greeting);
        Assert.Equal(HttpStatusCode.UpgradeRequired, notAnUpgrade.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, defaultPath.StatusCode);
        await Assert.ThrowsAnyAsync<WebSocketException>(() => WsClient.ConnectAsync(Gateway.WebSocketUri(JacPath)));
    }

    [Fact]
    public async Task The_root_id_comes_from_the_configured_claim_with_the_configured_secret()
    {
        var hex = JacTokens.NewRootHex();
        var token = JacTokens.Sign($"{{\"sub\":\"{hex}\",\"exp\":{JacTokens.Future}}}", JacOptionsFixture.Secret);
        var channel = "opts-" + hex;

        var client = await ConnectJacAsync(query: $"channel_id={channel}%20%C3%A9&auth=Bearer%20{token}", path: JacOptionsFixture.Path);
        var open = await App.WaitForActionAsync(client.ClientId, "open");

        Assert.Equal(JacWire.ConnectionEvent(client.ClientId, JacWire.Root(hex), channel + " \u00e9"), client.Greeting);
        Assert.Equal(ExpectedCallback("open", JacWire.Root(hex), client.ClientId, token, accessPublic: false), open.BodyText);
    }

    [Theory]
    [InlineData("root_id claim only")]
    [InlineData("default secret")]
    public async Task Tokens_that_do_not_fit_the_configuration_are_the_public_user(string kind)
    {
        var hex = JacTokens.NewRootHex();
        var token = kind == "default secret"
            ? JacTokens.Sign($"{{\"sub\":\"{hex}\",\"exp\":{JacTokens.Future}}}")
            : JacTokens.Sign($"{{\"root_id\":\"{hex}\",\"exp\":{JacTokens.Future}}}", JacOptionsFixture.Secret);

        var client = await ConnectJacAsync(token, path: JacOptionsFixture.Path);

        Assert.Equal(PublicRoot, client.RootId);
    }

    [Fact]
    public async Task A_silent_jac_connection_outlives_the_tapr_ping_deadline()
    {
        // jac clients have no {"event":"ping"} (it is a validation error to them), so the TAPR deadline is not theirs.
        var jac = await ConnectJacAsync(path: JacOptionsFixture.Path);
        var tapr = await ConnectAsync(UniqueUser("deadline"));

        var taprClosed = await tapr.WaitForCloseAsync();
        await jac.SendAsync("{\"type\":\"connection\"}");

        Assert.Equal(4000, taprClosed.Code);
        Assert.Equal(jac.Greeting, await jac.ReceiveTextAsync());
        Assert.Null(jac.Socket.CloseIfEnded);
    }
}
