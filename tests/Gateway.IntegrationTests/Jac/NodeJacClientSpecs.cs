using System.Text;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Jac;

/// <summary>The jac contract seen through the npm <c>ws</c> library.</summary>
[Collection(JacGatewayCollection.Name)]
public sealed class NodeJacClientSpecs(JacGatewayFixture fixture, ITestOutputHelper output) : JacSpec(fixture.Host, output)
{
    [Fact]
    public async Task A_ws_client_with_a_bearer_header_gets_its_connection_event_first_and_again_on_request()
    {
        var node = await StartNodeAsync();
        var hex = JacTokens.NewRootHex();
        var token = JacTokens.ForRoot(hex);
        var before = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        var client = await node.OpenAsync(JacUri("channel_id=node%20room"), new Dictionary<string, string> { ["Authorization"] = "Bearer " + token });
        var greeting = await client.ReceiveAsync();
        var clientId = JacClient.Field(greeting.Text, "client_id");
        await client.SendTextAsync("{\"type\":\"connection\"}");
        var again = await client.ReceiveAsync();
        var open = await App.WaitForActionAsync(clientId, "open");

        Assert.True(greeting.IsText && again.IsText, $"text frames: {greeting}, {again}");
        Assert.Equal(JacWire.ConnectionEvent(clientId, JacWire.Root(hex), "node room"), greeting.Text);
        Assert.Equal(greeting.Text, again.Text);
        JacWire.AssertId(clientId, before, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        Assert.Equal(ExpectedCallback("open", JacWire.Root(hex), clientId, token, accessPublic: false), open.BodyText);
    }

    [Fact]
    public async Task Direct_messages_pass_verbatim_between_ws_and_ClientWebSocket_clients()
    {
        var node = await StartNodeAsync();
        var hex = JacTokens.NewRootHex();
        var token = JacTokens.ForRoot(hex);
        var wsClient = await node.OpenAsync(JacUri("auth=" + token));
        var wsClientId = JacClient.Field((await wsClient.ReceiveAsync()).Text, "client_id");
        var dotnetClient = await ConnectAsRootAsync();
        const string toWs = "{\"n\":18446744073709551617, \"k\" : [\"\u00e9\",{}]}";
        const string toDotnet = "{\"reply\":true,\"f\":0.10}";

        await dotnetClient.SendAsync($"{{\"type\":\"user\",\"root_ids\":[\"{JacWire.Root(hex)}\"],\"data\":{toWs}}}");
        var atWs = await wsClient.ReceiveAsync();
        await wsClient.SendTextAsync($"{{\"type\":\"client\",\"client_ids\":[\"{dotnetClient.ClientId}\"],\"data\":{toDotnet}}}");
        var atDotnet = await dotnetClient.Socket.ReceiveAsync();

        Assert.True(atWs.IsText);
        Assert.Equal(Encoding.UTF8.GetBytes(toWs), atWs.Data);
        Assert.Equal(Encoding.UTF8.GetBytes(toDotnet), atDotnet.Data);
        Assert.DoesNotContain(App.ForConnection(wsClientId), r => r.Action == "message");
    }

    [Fact]
    public async Task A_ws_clients_binary_frame_and_invalid_event_get_error_frames_and_the_socket_stays_open()
    {
        var node = await StartNodeAsync();
        var client = await node.OpenAsync(JacUri());
        var greeting = await client.ReceiveAsync();

        await client.SendBinaryAsync("{\"type\":\"connection\"}"u8.ToArray());
        var binaryError = await client.ReceiveAsync();
        await client.SendTextAsync("{\"type\":\"user\",\"root_ids\":[],\"data\":{}}");
        var validationError = await client.ReceiveAsync();
        await client.SendTextAsync("{\"type\":\"connection\"}");
        var again = await client.ReceiveAsync();

        Assert.True(binaryError.IsText, $"errors are text frames: {binaryError}");
        JacWire.AssertPlainError(binaryError.Text);
        Assert.Equal(["too_short [\"event\",\"user\",\"root_ids\"]"], JacWire.AssertValidationErrors(validationError.Text));
        Assert.Equal(greeting.Text, again.Text);
        Assert.False(client.Closed.IsCompleted);
    }

    [Fact]
    public async Task A_ws_clients_walker_with_response_true_gets_the_apps_answer()
    {
        var node = await StartNodeAsync();
        var token = JacTokens.ForRoot(JacTokens.NewRootHex());
        var client = await node.OpenAsync(JacUri("auth=Bearer%20" + token));
        var clientId = JacClient.Field((await client.ReceiveAsync()).Text, "client_id");
        const string answer = "{\"status\":200,\"reports\":[{\"id\":\"n::1\",\"big\":123456789012345678901234567890}]}";
        const string walker = "{\"type\":\"walker\",\"walker\":\"list\",\"node\":null,\"response\":true,\"context\":{\"page\":1}}";
        App.Responder = r => r.ConnId == clientId && r.Action == "message" ? new AppReply(200, answer) : null;

        await client.SendTextAsync(walker);
        var frame = await client.ReceiveAsync();
        var message = await App.WaitForActionAsync(clientId, "message");

        Assert.Equal(answer, frame.Text);
        Assert.Equal(walker, message.DataJson);
    }
}
