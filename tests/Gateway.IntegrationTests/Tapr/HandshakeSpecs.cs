using System.Net;
using System.Security.Cryptography;
using System.Text;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Tapr;

/// <summary>PROTOCOL.md §1 and §3: which requests upgrade, and what the others get.</summary>
[Collection(SharedGatewayCollection.Name)]
public sealed class HandshakeSpecs(SharedGatewayFixture fixture, ITestOutputHelper output) : GatewaySpec(fixture.Host, output)
{
    [Theory]
    [InlineData("/ws")]
    [InlineData("/ws/")]
    public async Task Non_upgrade_get_on_the_websocket_path_is_426_upgrade_required(string path)
    {
        using var response = await Gateway.Http.GetAsync(path);

        Assert.Equal(HttpStatusCode.UpgradeRequired, response.StatusCode);
        Assert.Equal("Upgrade Required", response.ReasonPhrase);
        Assert.Equal("websocket", response.Headers.Upgrade.Single().ToString());
    }

    [Theory]
    [InlineData("GET", "/")]
    [InlineData("GET", "/nope")]
    [InlineData("GET", "/ws/extra")]
    [InlineData("GET", "/wsx")]
    [InlineData("POST", "/tapr/ws/conn/nope")]
    [InlineData("GET", "/tapr/ws/conn")]
    public async Task Unknown_path_is_404(string method, string path)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        using var response = await Gateway.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Theory]
    [InlineData("POST", "/ws")]
    [InlineData("PUT", "/ws")]
    [InlineData("DELETE", "/ws/")]
    [InlineData("GET", "/tapr/ws/conn/send")]
    [InlineData("PUT", "/tapr/ws/conn/send")]
    [InlineData("GET", "/tapr/ws/conn/close")]
    [InlineData("POST", "/tapr/ws/conn/list")]
    [InlineData("GET", "/tapr/ws/conn/debug")]
    public async Task Wrong_method_on_a_known_path_is_405(string method, string path)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = new StringContent("{}") };
        using var response = await Gateway.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
    }

    [Fact]
    public async Task Upgrade_answers_101_with_the_rfc6455_accept_key_and_no_subprotocol_when_none_is_offered()
    {
        var key = RawHttp.NewWebSocketKey();
        var request = $"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n";

        var (connection, response) = await RawHttp.SendAsync(Gateway.Port, request);
        await using var _ = connection;

        Assert.Equal(101, response.Status);
        var expectedAccept = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
        Assert.Equal([expectedAccept], response.HeaderValues("Sec-WebSocket-Accept"));
        Assert.Equal("websocket", Assert.Single(response.HeaderValues("Upgrade")), ignoreCase: true);
        Assert.Empty(response.HeaderValues("Sec-WebSocket-Protocol"));
    }

    [Fact]
    public async Task The_trailing_slash_path_upgrades_too()
    {
        var user = UniqueUser("slash");

        await using var client = await WsClient.ConnectAsync(Gateway.WebSocketUri("/ws/"), user);
        var open = await App.WaitForOpenAsync(user);
        await client.SendTextAsync("{\"event\":\"ping\"}");

        Assert.Equal("{\"event\":\"pong\"}", await client.ReceiveTextAsync());
        Assert.Equal("open", open.Action);
    }

    [Fact]
    public async Task Of_several_offered_subprotocols_exactly_one_is_selected()
    {
        var request = RawHttp.UpgradeRequest("/ws", Gateway.Port, "Sec-WebSocket-Protocol: a, b");

        var (connection, response) = await RawHttp.SendAsync(Gateway.Port, request);
        await using var _ = connection;

        Assert.Equal(101, response.Status);
        Assert.Equal(["a"], response.HeaderValues("Sec-WebSocket-Protocol"));
    }

    [Theory]
    [InlineData(8)]
    [InlineData(2000)]
    public async Task A_selected_subprotocol_arrives_whole_and_the_socket_then_serves_frames(int tokenLength)
    {
        // A 101 of a few hundred bytes, and one of over 2 KB (a long token), each arrive whole.
        var token = new string('p', tokenLength);
        var user = UniqueUser("longproto");

        await using var socket = await RawWebSocket.ConnectAsync(Gateway.Port, "/ws", "X-Bfl-User: " + user, $"Sec-WebSocket-Protocol: {token}, b");
        await App.WaitForOpenAsync(user);
        await socket.SendAsync(RawWebSocket.TextFrame("{\"event\":\"ping\"}"));
        var pong = await socket.ReadFrameAsync();

        Assert.Equal([token], socket.Response.HeaderValues("Sec-WebSocket-Protocol"));
        Assert.Equal("{\"event\":\"pong\"}", pong.Text);
    }

    [Fact]
    public async Task A_client_library_offering_several_subprotocols_accepts_the_selected_one()
    {
        await using var client = await WsClient.ConnectAsync(Gateway.WebSocketUri(), UniqueUser("proto"), subprotocols: ["chat.v2", "chat.v1"]);

        Assert.Equal("chat.v2", client.SubProtocol);
    }
}
