using System.Net.WebSockets;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Edge;

/// <summary>
/// Issue 10, findings 2 and 3. After closing for a client error (1002, 1007, 1009) the gateway goes on reading
/// and discarding until the client's close frame, then ends the TCP connection (RFC 6455 §7.1.1), so its close
/// frame always arrives and is never overtaken by a reset. Every close code RFC 6455 §7.4 and the IANA registry
/// allow on the wire is accepted and echoed; the others are a protocol error.
/// </summary>
[Collection(EdgeGatewaysCollection.Name)]
public sealed class CloseHandshakeSpecs(EdgeGatewaysFixture fixture, ITestOutputHelper output) : EdgeSpec(fixture, output)
{
    private const int Attempts = 12;

    [Theory]
    [InlineData("lean", false)]
    [InlineData("lean", true)]
    [InlineData("http", false)]
    [InlineData("http", true)]
    public async Task A_message_over_the_limit_is_answered_with_1009_every_time_never_a_reset(string path, bool fragmented)
    {
        var host = Fixture.For(path);
        var message = new byte[2 * 1024 * 1024];
        Array.Fill(message, (byte)'x');
        var outcomes = new List<WsClose>();

        for (var attempt = 0; attempt < Attempts; attempt++)
        {
            await using var client = await WsClient.ConnectAsync(host.Gateway.WebSocketUri(), UniqueUser("toobig"));
            var sending = fragmented ? SendFragmentsAsync(client, message) : client.SendAsync(message, WebSocketMessageType.Text);
            outcomes.Add(await client.WaitForCloseAsync());
            await IgnoreSendFailureAsync(sending);
        }

        Assert.All(outcomes, close => Assert.Equal(new WsClose(1009, "message too big", FrameReceived: true), close));
    }

    public static TheoryData<string, string, byte[], int> ClientErrors => new()
    {
        { "lean", "an unmasked frame", RawWebSocket.Frame(0x81, "{}"u8, masked: false), 1002 },
        { "http", "an unmasked frame", RawWebSocket.Frame(0x81, "{}"u8, masked: false), 1002 },
        { "lean", "reserved bits", RawWebSocket.Frame(0xC1, "{}"u8), 1002 },
        { "lean", "an unknown opcode", RawWebSocket.Frame(0x83, "{}"u8), 1002 },
        { "http", "a fragmented ping", RawWebSocket.Frame(0x09, "p"u8), 1002 },
        { "lean", "a continuation without a message", RawWebSocket.Frame(0x80, "{}"u8), 1002 },
        { "lean", "invalid UTF-8 in a text message", RawWebSocket.Frame(0x81, [(byte)'{', 0xC3, 0x28, (byte)'}']), 1007 },
        { "http", "invalid UTF-8 in a text message", RawWebSocket.Frame(0x81, [(byte)'{', 0xC3, 0x28, (byte)'}']), 1007 },
        { "lean", "a 2 MiB frame", RawWebSocket.Frame(0x82, new byte[2 * 1024 * 1024]), 1009 },
        { "http", "a 2 MiB frame", RawWebSocket.Frame(0x82, new byte[2 * 1024 * 1024]), 1009 },
    };

    [Theory]
    [MemberData(nameof(ClientErrors), DisableDiscoveryEnumeration = true)]
    public async Task After_a_client_error_the_gateway_reads_on_until_the_clients_close_then_ends_the_connection_cleanly(string path, string what, byte[] offending, int code)
    {
        var host = Fixture.For(path);
        var user = UniqueUser("clienterror");
        await using var socket = await RawWebSocket.ConnectAsync(host.Gateway.Port, "/ws", $"X-Bfl-User: {user}");
        var open = await host.App.WaitForOpenAsync(user);

        // The offending frame, then more than the socket buffers hold: a gateway that stopped reading and closed
        // now would reset the connection with these bytes unread, before its close frame is read.
        var junk = RawWebSocket.Frame(0x82, new byte[256 * 1024]);
        await socket.SendAsync([.. offending, .. junk]);
        var close = await socket.ReadUntilCloseAsync();
        await socket.SendAsync(junk);
        await socket.SendAsync(RawWebSocket.CloseFrame(code));
        var end = await socket.ReadToEndAsync();

        Assert.True(code == close.CloseCode, $"{what}: expected {code}, got {close}");
        Assert.Equal(ConnectionEnd.Graceful, end);
        var closed = await host.App.WaitForActionAsync(open.ConnId!, "close");
        Assert.Equal("close", closed.Action);
        Assert.DoesNotContain(host.App.ForConnection(open.ConnId!), r => r.Action == "message");
    }

    [Theory]
    [InlineData("lean", 1000)]
    [InlineData("lean", 1001)]
    [InlineData("lean", 1003)]
    [InlineData("lean", 1007)]
    [InlineData("lean", 1011)]
    [InlineData("lean", 1012)]
    [InlineData("lean", 1013)]
    [InlineData("lean", 1014)]
    [InlineData("http", 1012)]
    [InlineData("http", 1013)]
    [InlineData("http", 1014)]
    [InlineData("lean", 3000)]
    [InlineData("lean", 4999)]
    public async Task A_registered_close_code_is_echoed_and_the_app_gets_one_close(string path, int code)
    {
        var host = Fixture.For(path);
        var user = UniqueUser("closecode");
        await using var socket = await RawWebSocket.ConnectAsync(host.Gateway.Port, "/ws", $"X-Bfl-User: {user}");
        var open = await host.App.WaitForOpenAsync(user);

        await socket.SendAsync(RawWebSocket.CloseFrame(code, "bye"));
        var echo = await socket.ReadUntilCloseAsync();

        Assert.Equal(code, echo.CloseCode);
        Assert.Equal(ConnectionEnd.Graceful, await socket.ReadToEndAsync());
        var closed = await host.App.WaitForActionAsync(open.ConnId!, "close");
        Assert.Equal("close", closed.Action);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(999)]
    [InlineData(1004)]
    [InlineData(1005)]
    [InlineData(1006)]
    [InlineData(1015)]
    [InlineData(1016)]
    [InlineData(2999)]
    [InlineData(5000)]
    [InlineData(65535)]
    public async Task A_close_code_not_allowed_on_the_wire_is_a_protocol_error(int code)
    {
        await using var socket = await RawWebSocket.ConnectAsync(Fixture.Lean.Gateway.Port, "/ws");

        await socket.SendAsync(RawWebSocket.CloseFrame(code));
        var close = await socket.ReadUntilCloseAsync();

        Assert.Equal(1002, close.CloseCode);
    }

    [Fact]
    public async Task A_close_frame_with_a_one_byte_payload_or_a_bad_utf8_reason_is_refused()
    {
        await using var one = await RawWebSocket.ConnectAsync(Fixture.Lean.Gateway.Port, "/ws");
        await using var badReason = await RawWebSocket.ConnectAsync(Fixture.Lean.Gateway.Port, "/ws");

        await one.SendAsync(RawWebSocket.Frame(0x88, [0x03]));
        await badReason.SendAsync(RawWebSocket.Frame(0x88, [0x03, 0xE8, 0xC3, 0x28]));

        Assert.Equal(1002, (await one.ReadUntilCloseAsync()).CloseCode);
        Assert.Equal(1007, (await badReason.ReadUntilCloseAsync()).CloseCode);
    }

    private static async Task SendFragmentsAsync(WsClient client, byte[] message)
    {
        var chunks = message.Chunk(64 * 1024).ToList();
        for (var i = 0; i < chunks.Count; i++)
        {
            await client.SendAsync(chunks[i], WebSocketMessageType.Text, endOfMessage: i == chunks.Count - 1);
        }
    }

    /// <summary>The gateway may close the socket while the client is still writing: that send's failure is expected.</summary>
    private static async Task IgnoreSendFailureAsync(Task send)
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
