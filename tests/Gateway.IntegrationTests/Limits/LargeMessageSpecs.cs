using System.Net.WebSockets;
using System.Text;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Limits;

/// <summary>
/// Messages far larger than the transport's read buffer (here 4 KiB) are assembled as they arrive and
/// reach the app intact, whether sent in one frame or in many; only the message limit refuses them.
/// </summary>
[Collection(SharedGatewayCollection.Name)]
public sealed class LargeMessageSpecs(SharedGatewayFixture fixture, ITestOutputHelper output) : GatewaySpec(fixture.Host, output)
{
    [Fact]
    public async Task A_message_much_larger_than_the_read_buffer_reaches_the_app_verbatim_in_one_frame_or_in_fragments()
    {
        var host = await StartOwnGatewayAsync(o => o.With("Sockets", "ReadBufferBytes", "4096"), "gateway with a 4 KiB read buffer");
        var (client, open) = await ConnectAndOpenAsync(UniqueUser("large"), host: host);
        var connId = open.ConnId!;
        var whole = Payload(900_000, 'a');
        var fragmented = Payload(700_000, 'b');

        await client.SendTextAsync(whole);
        var chunks = Encoding.UTF8.GetBytes(fragmented).Chunk(50_000).ToList();
        for (var i = 0; i < chunks.Count; i++)
        {
            await client.SendAsync(chunks[i], WebSocketMessageType.Text, endOfMessage: i == chunks.Count - 1);
        }

        await host.App.WaitForCountAsync(2, r => r.ConnId == connId && r.Action == "message");
        var messages = host.App.ForConnection(connId).Where(r => r.Action == "message").Select(r => DataOf(r.BodyText)).ToList();
        Assert.Equal([whole, fragmented], messages);
    }

    private static string Payload(int size, char fill) => "{\"fill\":\"" + new string(fill, size) + "\"}";

    private static string DataOf(string body)
    {
        // {"data":<object>,"action":... : the object is verbatim between the first "data": and ,"action".
        const string prefix = "{\"data\":";
        var end = body.IndexOf(",\"action\":", StringComparison.Ordinal);
        return body[prefix.Length..end];
    }
}
