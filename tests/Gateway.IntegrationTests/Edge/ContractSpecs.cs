using System.Net.WebSockets;
using System.Text;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Edge;

/// <summary>
/// The contract's latest lines (issue 10): PROTOCOL.md §2, a binary frame holding a JSON object is forwarded as
/// that object; §5, the 16 MiB size limit on <c>/websocket</c> (settable) and an invalid event delivers nothing.
/// </summary>
[Collection(EdgeGatewaysCollection.Name)]
public sealed class ContractSpecs(EdgeGatewaysFixture fixture, ITestOutputHelper output) : EdgeSpec(fixture, output)
{
    [Theory]
    [InlineData("{\"event\":\"chat\",\"data\":{\"z\":1,\"a\":[true,null]},\"n\":12345678901234567890}")]
    [InlineData("  {\"event\":\"caf\u00e9\"}\n")]
    public async Task A_binary_frame_holding_a_json_object_is_forwarded_as_that_object(string frame)
    {
        var user = UniqueUser("binjson");
        var (client, open) = await ConnectAndOpenAsync(user);

        await client.SendBinaryAsync(Encoding.UTF8.GetBytes(frame));
        var message = await App.WaitForActionAsync(open.ConnId!, "message");

        Assert.Equal(ExpectedCallback("message", user, open.ConnId!, open.Token!, accessPublic: true, data: frame.Trim()), message.BodyText);
    }

    [Fact]
    public async Task A_literal_null_frame_gives_empty_data_text_or_binary()
    {
        var user = UniqueUser("null");
        var (client, open) = await ConnectAndOpenAsync(user);

        await client.SendTextAsync("null");
        await client.SendBinaryAsync("null"u8.ToArray());
        var messages = await App.WaitForCountAsync(2, r => r.ConnId == open.ConnId && r.Action == "message");

        Assert.All(messages, m => Assert.Equal("{}", m.DataJson));
    }

    [Fact]
    public async Task The_jac_size_limit_is_16_MiB_by_default()
    {
        var gateway = Fixture.Lean.Gateway;
        await using var client = await WsClient.ConnectAsync(gateway.WebSocketUri("/websocket"));
        var connection = await client.ReceiveTextAsync();
        var clientId = System.Text.Json.JsonDocument.Parse(connection).RootElement.GetProperty("data").GetProperty("client_id").GetString();
        var fill = new string('x', 2 * 1024 * 1024);

        // 2 MiB, over TAPR's 1 MiB: delivered back to the sender as a direct message.
        await client.SendTextAsync($"{{\"type\":\"client\",\"client_ids\":[\"{clientId}\"],\"data\":{{\"fill\":\"{fill}\"}}}}");
        Assert.Equal($"{{\"fill\":\"{fill}\"}}", await client.ReceiveTextAsync(TestTimeouts.Long));

        var tooBig = new byte[(16 * 1024 * 1024) + 1];
        Array.Fill(tooBig, (byte)' ');
        var sending = client.SendAsync(tooBig, WebSocketMessageType.Text);
        var close = await client.WaitForCloseAsync(TestTimeouts.Long);
        await IgnoreAsync(sending);

        Assert.Equal(new WsClose(1009, "message too big", FrameReceived: true), close);
    }

    [Fact]
    public async Task The_jac_size_limit_is_settable_and_leaves_tapr_alone()
    {
        var host = await StartOwnGatewayAsync(o => o.With("Jac", "MaxMessageBytes", "4096"), "gateway with a 4 KiB jac limit");
        var fill = new string('y', 5000);
        await using var jac = await WsClient.ConnectAsync(host.Gateway.WebSocketUri("/websocket"));
        await jac.ReceiveTextAsync();
        var (tapr, open) = await ConnectAndOpenAsync(UniqueUser("taprlimit"), host: host);

        await tapr.SendTextAsync($"{{\"fill\":\"{fill}\"}}");
        var sending = jac.SendTextAsync($"{{\"type\":\"connection\",\"fill\":\"{fill}\"}}");
        var close = await jac.WaitForCloseAsync();
        await IgnoreAsync(sending);

        Assert.Equal(1009, close.Code);
        Assert.Equal($"{{\"fill\":\"{fill}\"}}", (await host.App.WaitForActionAsync(open.ConnId!, "message")).DataJson);
    }

    [Fact]
    public async Task An_event_with_a_malformed_root_id_delivers_nothing_not_even_to_the_valid_ids_before_it()
    {
        await using var client = await WsClient.ConnectAsync(Fixture.Lean.Gateway.WebSocketUri("/websocket"));
        var connection = await client.ReceiveTextAsync();
        var root = System.Text.Json.JsonDocument.Parse(connection).RootElement.GetProperty("data").GetProperty("root_id").GetString();

        await client.SendTextAsync($"{{\"type\":\"user\",\"root_ids\":[\"{root}\",\"not-a-root\"],\"data\":{{\"leak\":1}}}}");
        var error = await client.ReceiveTextAsync();
        await client.SendTextAsync("{\"type\":\"connection\"}");

        Assert.StartsWith("{\"error\":[{\"type\":\"value_error\",\"loc\":[\"event\",\"user\",\"root_ids\",1]", error, StringComparison.Ordinal);
        Assert.Equal(connection, await client.ReceiveTextAsync());
    }

    private static async Task IgnoreAsync(Task send)
    {
        try
        {
            await send;
        }
        catch (Exception exception) when (exception is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The gateway closed while the client was still writing.
        }
    }
}
