using System.Text;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Tapr;

/// <summary>PROTOCOL.md §2: the exact callback bodies, headers and content of open, message and close.</summary>
[Collection(SharedGatewayCollection.Name)]
public sealed class CallbackSpecs(SharedGatewayFixture fixture, ITestOutputHelper output) : GatewaySpec(fixture.Host, output)
{
    [Fact]
    public async Task Open_message_and_close_bodies_are_exact_with_fields_in_order()
    {
        var user = UniqueUser("exact");
        var token = "tok-" + Guid.NewGuid().ToString("N");
        const string frame = "{\"event\":\"chat\",\"data\":{\"z\":1,\"a\":[true,null,-0.5e-3],\"big\":123456789012345678901234567890,\"f\":1.0,\"s\":\"caf\u00e9 \\u00e9 \\\"q\\\"\"}}";

        var (client, open) = await ConnectAndOpenAsync(user, "auth_token=" + token);
        await client.SendTextAsync(frame);
        var message = await App.WaitForActionAsync(open.ConnId!, "message");
        await client.CloseAsync();
        var close = await App.WaitForActionAsync(open.ConnId!, "close");

        var id = open.ConnId!;
        Assert.Equal(
            Encoding.UTF8.GetBytes($"{{\"data\":{{}},\"action\":\"open\",\"user_name\":\"{user}\",\"conn_id\":\"{id}\",\"token\":\"{token}\",\"access_public\":false}}"),
            open.Body);
        Assert.Equal(
            Encoding.UTF8.GetBytes($"{{\"data\":{frame},\"action\":\"message\",\"user_name\":\"{user}\",\"conn_id\":\"{id}\",\"token\":\"{token}\",\"access_public\":false}}"),
            message.Body);
        Assert.Equal(
            Encoding.UTF8.GetBytes($"{{\"data\":{{}},\"action\":\"close\",\"user_name\":\"{user}\",\"conn_id\":\"{id}\",\"token\":\"{token}\",\"access_public\":false}}"),
            close.Body);
    }

    [Theory]
    [InlineData("  {\"b\" : 2}\n", "{\"b\" : 2}")]
    [InlineData("{}", "{}")]
    [InlineData("{\"k\":{\"deep\":[[[{\"x\":\"}\"}]]]},\"k\":2}", "{\"k\":{\"deep\":[[[{\"x\":\"}\"}]]]},\"k\":2}")]
    public async Task A_json_object_frame_is_passed_as_data_verbatim(string frame, string data)
    {
        var user = UniqueUser("object");
        var (client, open) = await ConnectAndOpenAsync(user);

        await client.SendTextAsync(frame);
        var message = await App.WaitForActionAsync(open.ConnId!, "message");

        Assert.Equal(ExpectedCallback("message", user, open.ConnId!, open.Token!, accessPublic: true, data: data), message.BodyText);
    }

    [Fact]
    public async Task A_fragmented_message_is_reassembled_into_one_callback()
    {
        var user = UniqueUser("fragmented");
        var (client, open) = await ConnectAndOpenAsync(user);
        const string frame = "{\"event\":\"chat\",\"data\":{\"text\":\"in three pieces\"}}";

        await client.SendAsync(Encoding.UTF8.GetBytes(frame[..10]), System.Net.WebSockets.WebSocketMessageType.Text, endOfMessage: false);
        await client.SendAsync(Encoding.UTF8.GetBytes(frame[10..30]), System.Net.WebSockets.WebSocketMessageType.Text, endOfMessage: false);
        await client.SendAsync(Encoding.UTF8.GetBytes(frame[30..]), System.Net.WebSockets.WebSocketMessageType.Text, endOfMessage: true);
        await client.SendTextAsync("{\"event\":\"next\"}");
        await App.WaitForCountAsync(2, r => r.ConnId == open.ConnId && r.Action == "message");

        var messages = App.ForConnection(open.ConnId!).Where(r => r.Action == "message").ToList();
        Assert.Equal([frame, "{\"event\":\"next\"}"], messages.Select(m => m.DataJson));
    }

    [Theory]
    [InlineData("hello", "\"hello\"")]
    [InlineData("[1,2,{\"a\":3}]", "\"[1,2,{\\\"a\\\":3}]\"")]
    [InlineData("42", "\"42\"")]
    [InlineData("\"str\"", "\"\\\"str\\\"\"")]
    [InlineData("null", "\"null\"")]
    [InlineData("{\"a\":", "\"{\\\"a\\\":\"")]
    [InlineData("{\"a\":1} x", "\"{\\\"a\\\":1} x\"")]
    [InlineData("{} {}", "\"{} {}\"")]
    [InlineData("line1\nline2\t\\end <&> caf\u00e9", "\"line1\\nline2\\t\\\\end <&> caf\u00e9\"")]
    [InlineData("", "\"\"")]
    public async Task A_text_frame_that_is_not_a_json_object_gives_empty_data_and_raw_text(string frame, string rawTextJson)
    {
        var user = UniqueUser("text");
        var (client, open) = await ConnectAndOpenAsync(user);

        await client.SendTextAsync(frame);
        var message = await App.WaitForActionAsync(open.ConnId!, "message");

        var expected = ExpectedCallback("message", user, open.ConnId!, open.Token!, accessPublic: true)[..^1] + ",\"raw_text\":" + rawTextJson + "}";
        Assert.Equal(expected, message.BodyText);
        Assert.Equal(frame, message.RawText);
    }

    [Theory]
    [InlineData(new byte[] { 0, 1, 2, 0xfe, 0xff }, "AAEC/v8=")]
    [InlineData(new byte[] { (byte)'[', (byte)'1', (byte)']' }, "WzFd")]
    [InlineData(new byte[] { (byte)'n', (byte)'u', (byte)'l', (byte)'l' }, "bnVsbA==")]
    [InlineData(new byte[] { (byte)'{', (byte)'"', (byte)'a', (byte)'"', (byte)':', (byte)'"', 0xC3, 0x28, (byte)'"', (byte)'}' }, "eyJhIjoiwygifQ==")]
    [InlineData(new byte[0], "")]
    public async Task A_binary_frame_that_is_not_a_json_object_gives_empty_data_and_raw_binary_in_base64(byte[] frame, string base64)
    {
        var user = UniqueUser("binary");
        var (client, open) = await ConnectAndOpenAsync(user);

        await client.SendBinaryAsync(frame);
        var message = await App.WaitForActionAsync(open.ConnId!, "message");

        Assert.Equal(ExpectedCallback("message", user, open.ConnId!, open.Token!, accessPublic: true, rawBinary: base64), message.BodyText);
        Assert.Equal(frame, Convert.FromBase64String(message.RawBinary!));
    }

    [Fact]
    public async Task The_clients_cookie_header_goes_with_every_action()
    {
        var user = UniqueUser("cookies");
        var cookie = $"auth_token=t-{Guid.NewGuid():N}; theme=dark; sid=\"a b\"";

        var (client, open) = await ConnectAndOpenAsync(user, cookie);
        await client.SendTextAsync("{\"event\":\"chat\"}");
        await App.WaitForActionAsync(open.ConnId!, "message");
        await client.CloseAsync();
        await App.WaitForActionAsync(open.ConnId!, "close");

        var callbacks = App.ForConnection(open.ConnId!);
        Assert.Equal(["open", "message", "close"], callbacks.Select(c => c.Action));
        Assert.All(callbacks, c => Assert.Equal(cookie, c.Cookie));
    }

    [Fact]
    public async Task Without_a_client_cookie_every_action_carries_an_empty_cookie_header()
    {
        var user = UniqueUser("nocookie");

        var (client, open) = await ConnectAndOpenAsync(user);
        await client.SendTextAsync("plain");
        await App.WaitForActionAsync(open.ConnId!, "message");
        await client.CloseAsync();
        await App.WaitForActionAsync(open.ConnId!, "close");

        var callbacks = App.ForConnection(open.ConnId!);
        Assert.Equal(["open", "message", "close"], callbacks.Select(c => c.Action));
        Assert.All(callbacks, c =>
        {
            Assert.True(c.HasCookie, $"no Cookie header on {c.Action}");
            Assert.Equal(string.Empty, c.Cookie);
        });
    }

    [Fact]
    public async Task Callbacks_are_json_posts_to_the_configured_url()
    {
        var user = UniqueUser("post");

        var (client, open) = await ConnectAndOpenAsync(user);
        await client.SendTextAsync("{\"event\":\"chat\"}");
        await App.WaitForActionAsync(open.ConnId!, "message");

        Assert.All(App.ForConnection(open.ConnId!), c =>
        {
            Assert.Equal("POST", c.Method);
            Assert.Equal(AppServer.CallbackPath, c.Path);
            Assert.Equal("application/json", c.ContentType);
        });
    }

    [Fact]
    public async Task Ws_port_and_ws_url_give_the_callback_target_when_no_url_is_configured()
    {
        var app = Track(await AppServer.StartAsync());
        var options = new GatewayProcessOptions();
        options.Environment["WS_PORT"] = app.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        options.Environment["WS_URL"] = "/olares/ws?x=1";
        var gateway = Track(await GatewayProcess.StartAsync(options));
        var user = UniqueUser("wsport");

        await using var client = await WsClient.ConnectAsync(gateway.WebSocketUri(), user);
        var open = await app.WaitForOpenAsync(user);

        Assert.Equal("/olares/ws?x=1", open.Path);
        Assert.Equal("POST", open.Method);
    }

    [Fact]
    public async Task Without_a_callback_target_the_gateway_warns_once_and_still_serves_clients()
    {
        var gateway = Track(await GatewayProcess.StartAsync(new GatewayProcessOptions()));

        await using var client = await WsClient.ConnectAsync(gateway.WebSocketUri(), UniqueUser("nocallback"));
        await client.SendTextAsync("{\"event\":\"ping\"}");

        Assert.Equal("{\"event\":\"pong\"}", await client.ReceiveTextAsync());
        var warnings = gateway.Output.Lines.Where(l => l.Contains("No app callback is configured", StringComparison.Ordinal)).ToList();
        Assert.Single(warnings);
        Assert.Contains("warn", warnings[0], StringComparison.Ordinal);
    }
}
