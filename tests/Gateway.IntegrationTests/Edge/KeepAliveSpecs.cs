using System.Globalization;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Edge;

/// <summary>
/// Issue 10, finding 6, and PROTOCOL.md §5 liveness: on <c>/websocket</c> the gateway sends a protocol ping every
/// <c>Gateway:Jac:KeepAliveInterval</c> and closes (4000 <c>ping timeout</c>) a client that has not answered within
/// <c>Gateway:Jac:KeepAliveTimeout</c>; the app gets its <c>close</c> and the admin list forgets the client. A client
/// that answers stays. TAPR connections get the same with <c>Gateway:Tapr:KeepAliveInterval</c>.
/// </summary>
public sealed class KeepAliveSpecs(ITestOutputHelper output) : GatewaySpec(output)
{
    private static readonly TimeSpan Interval = TestTimeouts.Dilated(TimeSpan.FromSeconds(1));

    // A silent client is closed one interval after the ping; one that answers gets three, so that a stall of a
    // loaded machine between a ping and its pong is not taken for silence. (The next ping then comes a timeout after
    // the last: the keep-alive tick is moved only when it fires.)
    private static readonly TimeSpan SilentTimeout = Interval;
    private static readonly TimeSpan AnsweringTimeout = Interval * 3;

    [Fact]
    public async Task A_silent_jac_client_is_pinged_then_closed_with_4000_and_the_app_gets_close()
    {
        var host = await StartKeepAliveGatewayAsync();
        await using var socket = await RawWebSocket.ConnectAsync(host.Gateway.Port, "/websocket");
        var connection = await socket.ReadFrameAsync();
        var clientId = ClientId(connection);
        await host.App.WaitForActionAsync(clientId, "open");

        var ping = await socket.ReadFrameAsync(Interval * 4);
        var close = await socket.ReadUntilCloseAsync(Interval * 4);

        Assert.Equal(RawFrame.Ping, ping.Opcode);
        Assert.Equal(4000, close.CloseCode);
        Assert.Equal("ping timeout", close.Text);
        await host.App.WaitForActionAsync(clientId, "close");

        // The registry forgets the connection once its actor has stopped, which may be just after the callback went out.
        await Wait.UntilAsync(
            async () => !(await host.Gateway.Admin.ListAsync()).Text.Contains(clientId, StringComparison.Ordinal),
            what: "the admin list to forget the closed client");
    }

    [Fact]
    public async Task A_jac_client_that_answers_pings_stays_open()
    {
        var host = await StartKeepAliveGatewayAsync(AnsweringTimeout);
        await using var socket = await RawWebSocket.ConnectAsync(host.Gateway.Port, "/websocket");
        var clientId = ClientId(await socket.ReadFrameAsync());

        // Three rounds span more than interval + timeout: an unanswered ping would have closed the socket by then.
        for (var round = 0; round < 3; round++)
        {
            var ping = await socket.ReadFrameAsync(AnsweringTimeout + (Interval * 3));
            Assert.Equal(RawFrame.Ping, ping.Opcode);
            await socket.SendAsync(RawWebSocket.Frame(0x8A, ping.Payload));
        }

        await socket.SendAsync(RawWebSocket.TextFrame("{\"type\":\"connection\"}"));
        var again = await ReadNonPingAsync(socket);
        Assert.Equal(RawFrame.TextOpcode, again.Opcode);
        Assert.Equal(clientId, ClientId(again));
        Assert.DoesNotContain(host.App.ForConnection(clientId), r => r.Action == "close");
    }

    [Fact]
    public async Task A_library_client_answers_on_its_own_and_stays_open()
    {
        var host = await StartKeepAliveGatewayAsync(AnsweringTimeout);
        await using var client = await WsClient.ConnectAsync(host.Gateway.WebSocketUri("/websocket"));
        var connection = await client.ReceiveTextAsync();

        // ClientWebSocket answers pings itself: in this window an unanswered ping would have closed the socket.
        await host.App.AssertNoMoreAsync(r => r.Action == "close", allowed: 0, window: Interval * 2 + AnsweringTimeout, what: "close callbacks");
        await client.SendTextAsync("{\"type\":\"connection\"}");

        Assert.Equal(connection, await client.ReceiveTextAsync());
        Assert.Null(client.CloseIfEnded);
    }

    [Fact]
    public async Task Tapr_keep_alive_when_configured_closes_a_silent_client_with_4000()
    {
        var host = await StartKeepAliveGatewayAsync();
        var user = UniqueUser("taprkeepalive");
        await using var socket = await RawWebSocket.ConnectAsync(host.Gateway.Port, "/ws", $"X-Bfl-User: {user}");
        var open = await host.App.WaitForOpenAsync(user);

        var ping = await socket.ReadFrameAsync(Interval * 4);
        var close = await socket.ReadUntilCloseAsync(Interval * 4);

        Assert.Equal(RawFrame.Ping, ping.Opcode);
        Assert.Equal(4000, close.CloseCode);
        await host.App.WaitForActionAsync(open.ConnId!, "close");
    }

    private static string ClientId(RawFrame connectionEvent)
    {
        using var json = System.Text.Json.JsonDocument.Parse(connectionEvent.Payload);
        return json.RootElement.GetProperty("data").GetProperty("client_id").GetString()!;
    }

    private static async Task<RawFrame> ReadNonPingAsync(RawWebSocket socket)
    {
        while (true)
        {
            var frame = await socket.ReadFrameAsync();
            if (frame.Opcode != RawFrame.Ping)
            {
                return frame;
            }

            await socket.SendAsync(RawWebSocket.Frame(0x8A, frame.Payload));
        }
    }

    private Task<GatewayHost> StartKeepAliveGatewayAsync(TimeSpan? keepAliveTimeout = null)
    {
        var interval = Interval.ToString("c", CultureInfo.InvariantCulture);
        var timeout = (keepAliveTimeout ?? SilentTimeout).ToString("c", CultureInfo.InvariantCulture);
        return StartOwnGatewayAsync(
            o => o.With("Jac", "KeepAliveInterval", interval).With("Jac", "KeepAliveTimeout", timeout)
                .With("Tapr", "KeepAliveInterval", interval).With("Tapr", "KeepAliveTimeout", timeout),
            $"gateway with a {interval} keep-alive interval and a {timeout} keep-alive timeout");
    }
}
