using System.Text;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Tapr;

/// <summary>PROTOCOL.md §3: <c>{"event":"ping"}</c> is answered with exactly <c>{"event":"pong"}</c> and never reaches the app.</summary>
[Collection(SharedGatewayCollection.Name)]
public sealed class PingSpecs(SharedGatewayFixture fixture, ITestOutputHelper output) : GatewaySpec(fixture.Host, output)
{
    private const string Pong = "{\"event\":\"pong\"}";
    private const string Marker = "{\"event\":\"marker\"}";

    [Theory]
    [InlineData("{\"event\":\"ping\"}")]
    [InlineData("{\"event\":\"ping\",\"ts\":1700000000000,\"data\":{\"nested\":[1,2,{\"event\":\"x\"}]}}")]
    [InlineData("{\"data\":null,\"event\":\"ping\"}")]
    [InlineData("  {\n\"event\" : \"ping\"\n}\t")]
    [InlineData("{\"event\":\"chat\",\"event\":\"ping\"}")]
    public async Task A_text_ping_is_answered_with_exactly_pong_and_not_forwarded(string ping)
    {
        var (client, open) = await ConnectAndOpenAsync(UniqueUser("ping"));

        await client.SendTextAsync(ping);
        var reply = await client.ReceiveAsync();

        Assert.True(reply.IsText, $"the pong must be a text frame, got {reply}");
        Assert.Equal(Encoding.UTF8.GetBytes(Pong), reply.Data);
        await AssertOnlyTheMarkerWasForwardedAsync(client, open.ConnId!);
    }

    [Fact]
    public async Task A_binary_ping_is_answered_with_a_text_pong_and_not_forwarded()
    {
        var (client, open) = await ConnectAndOpenAsync(UniqueUser("binping"));

        await client.SendBinaryAsync("{\"event\":\"ping\",\"extra\":true}"u8.ToArray());
        var reply = await client.ReceiveAsync();

        Assert.True(reply.IsText, $"the pong must be a text frame, got {reply}");
        Assert.Equal(Pong, reply.Text);
        await AssertOnlyTheMarkerWasForwardedAsync(client, open.ConnId!);
    }

    [Fact]
    public async Task A_ping_split_into_fragments_is_still_a_ping()
    {
        var (client, open) = await ConnectAndOpenAsync(UniqueUser("fragping"));

        await client.SendAsync("{\"event\":"u8.ToArray(), System.Net.WebSockets.WebSocketMessageType.Text, endOfMessage: false);
        await client.SendAsync("\"ping\"}"u8.ToArray(), System.Net.WebSockets.WebSocketMessageType.Text, endOfMessage: true);

        Assert.Equal(Pong, await client.ReceiveTextAsync());
        await AssertOnlyTheMarkerWasForwardedAsync(client, open.ConnId!);
    }

    [Fact]
    public async Task Many_pings_get_one_pong_each()
    {
        var (client, open) = await ConnectAndOpenAsync(UniqueUser("pings"));

        for (var i = 0; i < 50; i++)
        {
            await client.SendTextAsync("{\"event\":\"ping\"}");
        }

        for (var i = 0; i < 50; i++)
        {
            Assert.Equal(Pong, await client.ReceiveTextAsync());
        }

        await AssertOnlyTheMarkerWasForwardedAsync(client, open.ConnId!);
    }

    [Theory]
    [InlineData("{\"event\":\"PING\"}")]
    [InlineData("{\"event\":\"ping \"}")]
    [InlineData("{\"event\":[\"ping\"]}")]
    [InlineData("{\"event\":{\"event\":\"ping\"}}")]
    [InlineData("{\"Event\":\"ping\"}")]
    [InlineData("{\"data\":{\"event\":\"ping\"}}")]
    [InlineData("{\"event\":\"ping\",\"event\":\"chat\"}")]
    [InlineData("{\"event\":\"ping\"")]
    [InlineData("[{\"event\":\"ping\"}]")]
    [InlineData("\"ping\"")]
    [InlineData("ping")]
    public async Task Frames_that_are_not_pings_get_no_pong_and_are_forwarded(string frame)
    {
        var (client, open) = await ConnectAndOpenAsync(UniqueUser("notping"));

        await client.SendTextAsync(frame);
        var message = await App.WaitForActionAsync(open.ConnId!, "message");

        Assert.True(message.DataJson == frame || message.RawText == frame, $"the frame must reach the app as sent: {message}");
        await client.AssertNoMessageAsync();
    }

    /// <summary>
    /// Sends a marker message and waits for its callback: a connection's callbacks keep their order, so
    /// anything forwarded before the marker has arrived by then.
    /// </summary>
    private async Task AssertOnlyTheMarkerWasForwardedAsync(WsClient client, string connId)
    {
        await client.SendTextAsync(Marker);
        await App.WaitForActionAsync(connId, "message");

        var messages = App.ForConnection(connId).Where(r => r.Action == "message").ToList();
        Assert.Equal([Marker], messages.Select(m => m.DataJson));
        await client.AssertNoMessageAsync(TimeSpan.Zero);
    }
}
