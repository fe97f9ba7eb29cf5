using System.Net.WebSockets;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Tapr;

/// <summary>
/// PROTOCOL.md §2: every connection that got an <c>open</c> gets exactly one <c>close</c>, whoever
/// closed it (the deadline case is in <see cref="PingDeadlineSpecs"/>); §3 and §6: the size limit closes with 1009.
/// </summary>
[Collection(SharedGatewayCollection.Name)]
public sealed class CloseCallbackSpecs(SharedGatewayFixture fixture, ITestOutputHelper output) : GatewaySpec(fixture.Host, output)
{
    private const int MaxMessageBytes = 1024 * 1024;

    [Fact]
    public async Task A_client_close_gives_exactly_one_close_callback_and_the_code_is_echoed()
    {
        var user = UniqueUser("clientclose");
        var (client, open) = await ConnectAndOpenAsync(user);

        var close = await client.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye");

        Assert.Equal(1000, close.Code);
        await AssertExactlyOneCloseAsync(open, user);
    }

    [Theory]
    [InlineData(WebSocketCloseStatus.EndpointUnavailable, "going away")]
    [InlineData((WebSocketCloseStatus)4005, "app specific")]
    public async Task The_clients_close_code_is_echoed_and_the_app_gets_one_close(WebSocketCloseStatus status, string reason)
    {
        var user = UniqueUser("echo");
        var (client, open) = await ConnectAndOpenAsync(user);

        var close = await client.CloseAsync(status, reason);

        Assert.Equal((int)status, close.Code);
        await AssertExactlyOneCloseAsync(open, user);
    }

    [Fact]
    public async Task Invalid_utf8_in_a_text_message_closes_with_1007_and_gives_exactly_one_close_callback()
    {
        var user = UniqueUser("badutf8");
        var (client, open) = await ConnectAndOpenAsync(user);

        await client.SendAsync(new byte[] { (byte)'{', 0xC3, 0x28, (byte)'}' }, WebSocketMessageType.Text);
        var close = await client.WaitForCloseAsync();

        Assert.Equal(1007, close.Code);
        await AssertExactlyOneCloseAsync(open, user);
        Assert.DoesNotContain(App.ForConnection(open.ConnId!), c => c.Action == "message");
    }

    [Fact]
    public async Task An_admin_close_gives_exactly_one_close_callback()
    {
        var user = UniqueUser("adminclose");
        var (client, open) = await ConnectAndOpenAsync(user);

        var response = await Gateway.Admin.CloseAsync($"{{\"conns\":[\"{open.ConnId}\"]}}");
        var close = await client.WaitForCloseAsync();

        Assert.Equal("{\"code\":0,\"message\":\"success\"}", response.Text);
        Assert.Equal(new WsClose(1000, string.Empty, FrameReceived: true), close);
        await AssertExactlyOneCloseAsync(open, user);
    }

    [Fact]
    public async Task A_client_that_vanishes_without_a_close_frame_gives_exactly_one_close_callback()
    {
        var user = UniqueUser("vanish");
        var (client, open) = await ConnectAndOpenAsync(user);
        await client.SendTextAsync("{\"event\":\"last words\"}");
        await App.WaitForActionAsync(open.ConnId!, "message");

        client.Abort();

        await AssertExactlyOneCloseAsync(open, user);
        Assert.Equal(["open", "message", "close"], App.ForConnection(open.ConnId!).Select(c => c.Action));
    }

    [Fact]
    public async Task A_message_over_the_size_limit_closes_with_1009_and_gives_exactly_one_close_callback()
    {
        var user = UniqueUser("toobig");
        var (client, open) = await ConnectAndOpenAsync(user);

        var send = client.SendTextAsync(new string('x', 2 * 1024 * 1024));
        var close = await client.WaitForCloseAsync();
        await IgnoreFailureAsync(send);

        Assert.Equal(1009, close.Code);
        Assert.True(close.FrameReceived, $"expected a close frame, got {close}");
        await AssertExactlyOneCloseAsync(open, user);
        Assert.DoesNotContain(App.ForConnection(open.ConnId!), c => c.Action == "message");
    }

    [Fact]
    public async Task A_fragmented_message_over_the_size_limit_closes_with_1009()
    {
        var user = UniqueUser("fragments");
        var (client, open) = await ConnectAndOpenAsync(user);
        var fragment = new byte[256 * 1024];
        Array.Fill(fragment, (byte)'y');

        var close = await SendUntilClosedAsync(client, async () =>
        {
            for (var i = 0; i < 5; i++)
            {
                await client.SendAsync(fragment, WebSocketMessageType.Text, endOfMessage: false);
            }

            await client.SendAsync(fragment, WebSocketMessageType.Text, endOfMessage: true);
        });

        Assert.Equal(1009, close.Code);
        await AssertExactlyOneCloseAsync(open, user);
    }

    [Fact]
    public async Task A_message_of_exactly_the_size_limit_is_forwarded()
    {
        var user = UniqueUser("atlimit");
        var (client, open) = await ConnectAndOpenAsync(user);
        var text = new string('z', MaxMessageBytes);

        await client.SendTextAsync(text);
        var message = await App.WaitForActionAsync(open.ConnId!, "message");
        await client.SendTextAsync("{\"event\":\"ping\"}");

        Assert.Equal(text, message.RawText);
        Assert.Equal("{\"event\":\"pong\"}", await client.ReceiveTextAsync());
        Assert.Null(client.CloseIfEnded);
    }

    [Fact]
    public async Task A_ws_library_client_that_is_destroyed_gives_exactly_one_close_callback()
    {
        var node = await StartNodeAsync();
        var user = UniqueUser("nodevanish");
        var client = await node.OpenAsync(Gateway.WebSocketUri(), new Dictionary<string, string> { ["X-Bfl-User"] = user });
        var open = await App.WaitForOpenAsync(user);

        await client.TerminateAsync();

        await AssertExactlyOneCloseAsync(open, user);
    }

    private async Task AssertExactlyOneCloseAsync(RecordedCallback open, string user)
    {
        var close = await App.WaitForActionAsync(open.ConnId!, "close");
        Assert.Equal(ExpectedCallback("close", user, open.ConnId!, open.Token!, open.AccessPublic!.Value), close.BodyText);
        await App.AssertNoMoreAsync(r => r.ConnId == open.ConnId && r.Action == "close", allowed: 1, what: "close callbacks");
        Assert.Equal("close", App.ForConnection(open.ConnId!)[^1].Action);
    }

    private static async Task<WsClose> SendUntilClosedAsync(WsClient client, Func<Task> send)
    {
        var sending = send();
        var close = await client.WaitForCloseAsync();
        await IgnoreFailureAsync(sending);
        return close;
    }

    /// <summary>The gateway may close the socket while the client is still writing: that send's failure is expected.</summary>
    private static async Task IgnoreFailureAsync(Task send)
    {
        try
        {
            await send;
        }
        catch (Exception exception) when (exception is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            // Expected.
        }
    }
}
