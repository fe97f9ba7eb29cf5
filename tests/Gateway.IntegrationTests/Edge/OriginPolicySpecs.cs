using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Edge;

/// <summary>
/// Issue 10, finding 7: <c>Gateway:Tapr:AllowedOrigins</c> and <c>Gateway:Jac:AllowedOrigins</c>. A browser page on
/// another site can open a socket that carries the victim's cookie (RFC 6455 §10.2); with an allow-list, any
/// other <c>Origin</c> gets 403 before the upgrade and the app never hears of it. No <c>Origin</c> (not a browser)
/// is allowed, and an empty list allows every origin.
/// </summary>
[Collection(EdgeGatewaysCollection.Name)]
public sealed class OriginPolicySpecs(EdgeGatewaysFixture fixture, ITestOutputHelper output) : EdgeSpec(fixture, output)
{
    [Theory]
    [InlineData("lean", "/ws", "https://attacker.example")]
    [InlineData("http", "/ws", "https://attacker.example")]
    [InlineData("lean", "/ws", EdgeGatewaysFixture.JacOrigin)]
    [InlineData("http", "/ws", "null")]
    [InlineData("lean", "/websocket", "https://attacker.example")]
    [InlineData("http", "/websocket", EdgeGatewaysFixture.TaprOrigin)]
    [InlineData("lean", "/ws", "https://app.example.attacker.example")]
    public async Task An_origin_not_on_the_list_is_refused_with_403_before_the_upgrade(string path, string endpoint, string origin)
    {
        var host = Fixture.For(path);
        var user = UniqueUser("victim");
        var request = RawHttp.UpgradeRequest(endpoint, host.Gateway.Port, $"Origin: {origin}", "Cookie: auth_token=victim-token", $"X-Bfl-User: {user}");

        var (connection, response) = await RawHttp.SendAsync(host.Gateway.Port, request);
        await connection.DisposeAsync();

        Assert.Equal(403, response.Status);
        Assert.DoesNotContain(host.App.Requests, r => r.UserName == user || r.Token == "victim-token");
    }

    [Theory]
    [InlineData("lean", "/ws", EdgeGatewaysFixture.TaprOrigin)]
    [InlineData("http", "/ws", EdgeGatewaysFixture.TaprOrigin)]
    [InlineData("lean", "/ws", "HTTPS://APP.EXAMPLE")]
    [InlineData("lean", "/websocket", EdgeGatewaysFixture.JacOrigin)]
    [InlineData("http", "/websocket", EdgeGatewaysFixture.JacOrigin)]
    [InlineData("lean", "/ws", null)]
    [InlineData("http", "/websocket", null)]
    public async Task A_listed_origin_or_none_at_all_is_upgraded(string path, string endpoint, string? origin)
    {
        var host = Fixture.For(path);
        string[] headers = origin is null ? [] : [$"Origin: {origin}"];

        await using var socket = await RawWebSocket.ConnectAsync(host.Gateway.Port, endpoint, headers);

        Assert.Equal(101, socket.Response.Status);
    }

    [Fact]
    public async Task Without_a_list_every_origin_is_allowed_as_in_olares()
    {
        var host = await StartOwnGatewayAsync(title: "gateway without an origin list");
        var user = UniqueUser("anyorigin");

        await using var socket = await RawWebSocket.ConnectAsync(host.Gateway.Port, "/ws", "Origin: https://attacker.example", $"X-Bfl-User: {user}");
        var open = await host.App.WaitForOpenAsync(user);

        Assert.Equal("open", open.Action);
    }
}
