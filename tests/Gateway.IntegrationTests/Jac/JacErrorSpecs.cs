using System.Net.WebSockets;
using System.Text;

namespace Gateway.IntegrationTests.Jac;

/// <summary>
/// PROTOCOL.md §5 errors: a frame that is not JSON, or binary, gets <c>{"error":["&lt;reason&gt;"]}</c>; an event that
/// fails validation gets <c>{"error":[{"type","loc","msg"}]}</c>. The socket stays open and nothing reaches the app.
/// </summary>
[Collection(JacGatewayCollection.Name)]
public sealed class JacErrorSpecs(JacGatewayFixture fixture, ITestOutputHelper output) : JacSpec(fixture.Host, output)
{
    [Theory]
    [InlineData("{not json")]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("{\"type\":\"connection\"")]
    [InlineData("{\"type\":\"connection\"} {\"type\":\"connection\"}")]
    [InlineData("nul")]
    public async Task Invalid_json_gets_a_reason_and_the_socket_stays_open(string frame)
    {
        var client = await ConnectJacAsync();

        await client.SendAsync(frame);
        var error = await client.ReceiveTextAsync();

        JacWire.AssertPlainError(error);
        await AssertStillServedAsync(client);
    }

    [Theory]
    [InlineData("{\"type\":\"connection\"}")]
    [InlineData("\u0000\u0001\u00ff")]
    public async Task A_binary_frame_gets_a_reason_and_the_socket_stays_open(string content)
    {
        var client = await ConnectJacAsync();

        await client.Socket.SendAsync(Encoding.Latin1.GetBytes(content), WebSocketMessageType.Binary);
        var error = await client.Socket.ReceiveAsync();

        Assert.True(error.IsText, $"errors are text frames: {error}");
        JacWire.AssertPlainError(error.Text);
        await AssertStillServedAsync(client);
    }

    [Theory]
    [InlineData("{\"data\":{}}", "union_tag_not_found [\"event\"]")]
    [InlineData("{\"event\":\"ping\"}", "union_tag_not_found [\"event\"]")]
    [InlineData("{\"type\":\"dance\",\"data\":{}}", "union_tag_invalid [\"event\"]")]
    [InlineData("{\"type\":1}", "union_tag_invalid [\"event\"]")]
    [InlineData("[{\"type\":\"connection\"}]", "model_attributes_type [\"event\"]")]
    [InlineData("\"connection\"", "model_attributes_type [\"event\"]")]
    [InlineData("42", "model_attributes_type [\"event\"]")]
    [InlineData("null", "model_attributes_type [\"event\"]")]
    [InlineData("{\"type\":\"user\",\"root_ids\":[],\"data\":{}}", "too_short [\"event\",\"user\",\"root_ids\"]")]
    [InlineData("{\"type\":\"channel\",\"channel_ids\":[],\"data\":{}}", "too_short [\"event\",\"channel\",\"channel_ids\"]")]
    [InlineData("{\"type\":\"client\",\"client_ids\":[],\"data\":{}}", "too_short [\"event\",\"client\",\"client_ids\"]")]
    [InlineData("{\"type\":\"user\",\"data\":{}}", "missing [\"event\",\"user\",\"root_ids\"]")]
    [InlineData("{\"type\":\"channel\",\"channel_ids\":[\"c\"]}", "missing [\"event\",\"channel\",\"data\"]")]
    [InlineData("{\"type\":\"user\"}", "missing [\"event\",\"user\",\"root_ids\"]", "missing [\"event\",\"user\",\"data\"]")]
    [InlineData("{\"type\":\"client\",\"client_ids\":[\"x\"],\"data\":[1]}", "dict_type [\"event\",\"client\",\"data\"]")]
    [InlineData("{\"type\":\"client\",\"client_ids\":[\"x\"],\"data\":\"text\"}", "dict_type [\"event\",\"client\",\"data\"]")]
    [InlineData("{\"type\":\"user\",\"root_ids\":[\"n::000000000000000000000001\"],\"data\":null}", "dict_type [\"event\",\"user\",\"data\"]")]
    [InlineData("{\"type\":\"user\",\"root_ids\":[\"n::1\"],\"data\":null}", "value_error [\"event\",\"user\",\"root_ids\",0]", "dict_type [\"event\",\"user\",\"data\"]")]
    [InlineData("{\"type\":\"user\",\"root_ids\":[\"n::672b0c8e1f0a4b2c3d4e5f60\",\"alice\",\"n:Root:672b0c8e1f0a4b2c3d4e5f6\",\"n:x-y:672b0c8e1f0a4b2c3d4e5f60\"],\"data\":{}}", "value_error [\"event\",\"user\",\"root_ids\",1]", "value_error [\"event\",\"user\",\"root_ids\",2]", "value_error [\"event\",\"user\",\"root_ids\",3]")]
    [InlineData("{\"type\":\"user\",\"root_ids\":\"n::000000000000000000000001\",\"data\":{}}", "list_type [\"event\",\"user\",\"root_ids\"]")]
    [InlineData("{\"type\":\"channel\",\"channel_ids\":{\"a\":1},\"data\":{}}", "list_type [\"event\",\"channel\",\"channel_ids\"]")]
    [InlineData("{\"type\":\"channel\",\"channel_ids\":[\"a\",2,null],\"data\":{}}", "string_type [\"event\",\"channel\",\"channel_ids\",1]", "string_type [\"event\",\"channel\",\"channel_ids\",2]")]
    [InlineData("{\"type\":\"change_user\",\"token\":123}", "string_type [\"event\",\"change_user\",\"token\"]")]
    [InlineData("{\"type\":\"walker\",\"response\":true}", "missing [\"event\",\"walker\",\"walker\"]")]
    [InlineData("{\"type\":\"walker\",\"walker\":\"w\",\"context\":[]}", "dict_type [\"event\",\"walker\",\"context\"]")]
    public async Task An_invalid_event_gets_validation_errors_and_the_socket_stays_open(string frame, params string[] expected)
    {
        var client = await ConnectJacAsync();

        await client.SendAsync(frame);
        var error = await client.ReceiveTextAsync();

        Assert.Equal(expected, JacWire.AssertValidationErrors(error));
        await AssertStillServedAsync(client);
    }

    [Fact]
    public async Task Rejected_frames_are_not_forwarded_to_the_app()
    {
        var client = await ConnectJacAsync();
        await App.WaitForActionAsync(client.ClientId, "open");

        await client.SendAsync("{not json");
        await client.Socket.SendBinaryAsync([1, 2, 3]);
        await client.SendAsync("{\"type\":\"dance\"}");
        await client.SendAsync("[1,2]");
        for (var i = 0; i < 4; i++)
        {
            Assert.StartsWith("{\"error\":[", await client.ReceiveTextAsync(), StringComparison.Ordinal);
        }

        await App.AssertNoMoreAsync(r => r.ConnId == client.ClientId, allowed: 1, what: "callbacks besides open");
    }

    /// <summary>The socket is open and still answers: a connection event request gets the connection event.</summary>
    private static async Task AssertStillServedAsync(JacClient client)
    {
        await client.SendAsync("{\"type\":\"connection\"}");
        Assert.Equal(client.Greeting, await client.ReceiveTextAsync());
        Assert.Null(client.Socket.CloseIfEnded);
    }
}
