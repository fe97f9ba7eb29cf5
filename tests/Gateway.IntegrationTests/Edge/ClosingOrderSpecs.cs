using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Edge;

/// <summary>
/// Issue 14, finding 1: frames a client sent before its close frame are handled in the order sent. A TAPR JSON
/// ping written in the same TCP segment as the close frame gets its pong, and the pong comes before the
/// gateway's close frame; messages before the close reach the app before its <c>close</c> callback.
/// </summary>
[Collection(EdgeGatewaysCollection.Name)]
public sealed class ClosingOrderSpecs(EdgeGatewaysFixture fixture, ITestOutputHelper output) : EdgeSpec(fixture, output)
{
    private const int Attempts = 30;

    [Theory]
    [InlineData("lean")]
    [InlineData("http")]
    public async Task A_ping_sent_with_the_close_frame_gets_its_pong_before_the_close_frame_every_time(string path)
    {
        var host = Fixture.For(path);
        var failures = new List<string>();
        for (var attempt = 0; attempt < Attempts; attempt++)
        {
            var user = UniqueUser("pingclose");
            await using var socket = await RawWebSocket.ConnectAsync(host.Gateway.Port, "/ws", $"X-Bfl-User: {user}");

            // One write: the ping and the close arrive together, as `ws.send(ping); ws.close(1000)` puts them.
            await socket.SendAsync([.. RawWebSocket.TextFrame("{\"event\":\"ping\"}"), .. RawWebSocket.CloseFrame(1000)]);
            var frames = new List<RawFrame>();
            RawFrame frame;
            do
            {
                frame = await socket.ReadFrameAsync();
                frames.Add(frame);
            }
            while (frame.Opcode != RawFrame.Close);

            var seen = string.Join(", ", frames.Select(f => f.Opcode == RawFrame.Close ? f.ToString() : f.Text));
            if (seen != "{\"event\":\"pong\"}, close 1000 \"\"")
            {
                failures.Add($"attempt {attempt}: {seen}");
            }

            Assert.Equal(ConnectionEnd.Graceful, await socket.ReadToEndAsync());
        }

        Assert.True(failures.Count == 0, $"{failures.Count} of {Attempts} attempts did not see the pong then the close: {string.Join("; ", failures)}");
    }

    [Theory]
    [InlineData("lean")]
    [InlineData("http")]
    public async Task Messages_and_pings_sent_with_the_close_frame_all_reach_the_app_before_close_and_every_ping_is_answered(string path)
    {
        const int Messages = 10;
        var host = Fixture.For(path);
        var user = UniqueUser("sendclose");
        await using var socket = await RawWebSocket.ConnectAsync(host.Gateway.Port, "/ws", $"X-Bfl-User: {user}");
        var open = await host.App.WaitForOpenAsync(user);

        var burst = new List<byte>();
        for (var i = 0; i < Messages; i++)
        {
            burst.AddRange(RawWebSocket.TextFrame($"{{\"n\":{i}}}"));
            burst.AddRange(RawWebSocket.TextFrame("{\"event\":\"ping\"}"));
        }

        burst.AddRange(RawWebSocket.CloseFrame(1000, "done"));
        await socket.SendAsync([.. burst]);

        var frames = new List<string>();
        RawFrame frame;
        do
        {
            frame = await socket.ReadFrameAsync();
            frames.Add(frame.Opcode == RawFrame.Close ? frame.ToString() : frame.Text);
        }
        while (frame.Opcode != RawFrame.Close);

        Assert.Equal([.. Enumerable.Repeat("{\"event\":\"pong\"}", Messages), "close 1000 \"\""], frames);
        var closed = await host.App.WaitForActionAsync(open.ConnId!, "close");
        var events = host.App.ForConnection(open.ConnId!).Where(r => r.Delivered).Select(r => r.Action == "message" ? r.DataJson : r.Action).ToList();
        Assert.Equal(["open", .. Enumerable.Range(0, Messages).Select(i => $"{{\"n\":{i}}}"), "close"], events);
        Assert.Equal("close", closed.Action);
    }

    [Fact]
    public async Task An_npm_ws_client_that_pings_then_closes_at_once_gets_its_pong_every_time()
    {
        await using var node = await StartNodeAsync();
        var failures = new List<string>();
        for (var attempt = 0; attempt < Attempts; attempt++)
        {
            var user = UniqueUser("wspingclose");
            var client = await node.OpenAsync(Fixture.Lean.Gateway.WebSocketUri(), new Dictionary<string, string> { ["X-Bfl-User"] = user });
            await client.SendTextThenCloseAsync("{\"event\":\"ping\"}", 1000);
            var close = await client.WaitForCloseAsync();
            var received = await ReceivedBeforeCloseAsync(client);
            if (received is not ["{\"event\":\"pong\"}"] || close.Code != 1000)
            {
                failures.Add($"attempt {attempt}: received [{string.Join(", ", received)}], close {close}");
            }
        }

        Assert.True(failures.Count == 0, $"{failures.Count} of {Attempts} npm ws clients lost the pong: {string.Join("; ", failures)}");
    }

    /// <summary>The text messages a closed client had received, in order.</summary>
    private static async Task<List<string>> ReceivedBeforeCloseAsync(NodeWsConnection client)
    {
        var texts = new List<string>();
        while (true)
        {
            try
            {
                texts.Add((await client.ReceiveAsync(TestTimeouts.Default)).Text);
            }
            catch (InvalidOperationException)
            {
                return texts; // closed and drained
            }
        }
    }
}
