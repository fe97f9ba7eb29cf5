using System.Text;
using System.Text.Json;
using Gateway.Callbacks;
using Gateway.Connections;
using Gateway.Tests.Connections;
using static Gateway.Callbacks.CallbackProtocol;
using static Gateway.Connections.ConnectionProtocol;

namespace Gateway.Tests.Callbacks;

public sealed class CallbackBodySpecs
{
    private static readonly ConnectionIdentity Alice = TestIdentities.Tapr("5d1e0c4a-7f1b-4c2e-9a3d-0b6f2e8c1a77", user: "alice", token: "tok-1");

    [Fact]
    public void Open_has_empty_data_and_the_fields_in_olares_order()
    {
        Assert.Equal(
            "{\"data\":{},\"action\":\"open\",\"user_name\":\"alice\",\"conn_id\":\"5d1e0c4a-7f1b-4c2e-9a3d-0b6f2e8c1a77\",\"token\":\"tok-1\",\"access_public\":false}",
            Write(new ConnectionOpened(Alice)));
    }

    [Fact]
    public void Close_has_empty_data_and_says_whether_the_connection_was_public()
    {
        var guest = TestIdentities.Tapr("c2", user: string.Empty, token: "0b0c7d1e-uuid", accessPublic: true);

        Assert.Equal(
            "{\"data\":{},\"action\":\"close\",\"user_name\":\"\",\"conn_id\":\"c2\",\"token\":\"0b0c7d1e-uuid\",\"access_public\":true}",
            Write(new ConnectionClosed(guest)));
    }

    [Fact]
    public void A_json_object_frame_is_the_data_verbatim()
    {
        const string Object = "{\"event\":\"chat\",\"b\":1,\"a\":[true,null],\"big\":123456789012345678901234567890,\"f\":1.50,\"e\":1e400, \"s\" : \"h\\u00e9llo \\\"x\\\" é\" }";

        Assert.Equal(
            "{\"data\":" + Object + ",\"action\":\"message\",\"user_name\":\"alice\",\"conn_id\":\"5d1e0c4a-7f1b-4c2e-9a3d-0b6f2e8c1a77\",\"token\":\"tok-1\",\"access_public\":false}",
            Write(ObjectMessage(Object)));
    }

    [Fact]
    public void Whitespace_around_the_object_is_left_out_by_its_offset_and_length()
    {
        var frame = Encoding.UTF8.GetBytes(" \r\n\t{\"a\" : { \"b\" : 2 } }\n\n ");

        var body = Write(new MessageReceived(Alice, new ForwardToApp(frame, FrameKind.JsonObject, 4, 20), TestIdentities.Flow()));

        Assert.StartsWith("{\"data\":{\"a\" : { \"b\" : 2 } },\"action\":\"message\",", body, StringComparison.Ordinal);
        Assert.DoesNotContain("raw_", body, StringComparison.Ordinal);
    }

    [Fact]
    public void A_text_frame_that_is_not_an_object_has_empty_data_and_rides_along_as_raw_text()
    {
        var frame = Encoding.UTF8.GetBytes("say \"hi\"\\ <b>&</b>\n\tZoë\u0001");

        var body = Write(new MessageReceived(Alice, new ForwardToApp(frame, FrameKind.Text, 0, 0), TestIdentities.Flow()));

        Assert.Equal(
            "{\"data\":{},\"action\":\"message\",\"user_name\":\"alice\",\"conn_id\":\"5d1e0c4a-7f1b-4c2e-9a3d-0b6f2e8c1a77\",\"token\":\"tok-1\",\"access_public\":false,"
            + "\"raw_text\":\"say \\\"hi\\\"\\\\ <b>&</b>\\n\\tZoë\\u0001\"}",
            body);
        Assert.Equal(Encoding.UTF8.GetString(frame), JsonDocument.Parse(body).RootElement.GetProperty("raw_text").GetString());
    }

    [Theory]
    [InlineData("[1,2]")]
    [InlineData("\"ping\"")]
    [InlineData("42")]
    [InlineData("{\"a\":1")]
    [InlineData("")]
    [InlineData("emoji 😀 and 𝄞 survive")]
    [InlineData("\u2028\u2029 line separators")]
    public void Any_text_that_is_not_an_object_is_carried_whole_in_raw_text(string text)
    {
        var body = Write(new MessageReceived(Alice, new ForwardToApp(Encoding.UTF8.GetBytes(text), FrameKind.Text, 0, 0), TestIdentities.Flow()));

        var json = JsonDocument.Parse(body).RootElement;
        Assert.Equal("{}", json.GetProperty("data").GetRawText());
        Assert.Equal(text, json.GetProperty("raw_text").GetString());
    }

    [Fact]
    public void A_binary_frame_has_empty_data_and_rides_along_as_base64()
    {
        byte[] frame = [0x00, 0x01, 0x02, 0xFF, 0xFE, (byte)'{', (byte)'}'];

        var body = Write(new MessageReceived(Alice, new ForwardToApp(frame, FrameKind.Binary, 0, 0), TestIdentities.Flow()));

        Assert.Equal(
            "{\"data\":{},\"action\":\"message\",\"user_name\":\"alice\",\"conn_id\":\"5d1e0c4a-7f1b-4c2e-9a3d-0b6f2e8c1a77\",\"token\":\"tok-1\",\"access_public\":false,\"raw_binary\":\"AAEC//57fQ==\"}",
            body);
    }

    [Fact]
    public void A_walker_event_is_a_message_with_the_whole_event_as_data()
    {
        const string Event = "{\"type\":\"walker\",\"walker\":\"greet\",\"node\":null,\"response\":true,\"context\":{\"n\":1}}";
        var frame = Encoding.UTF8.GetBytes(Event);
        var jac = TestIdentities.Jac("1735689600:0123456789abcdef0123456789abcdef", root: "n::000000000000000000000001", token: string.Empty);

        var body = Write(new WalkerReceived(jac, new ForwardToApp(frame, FrameKind.JsonObject, 0, frame.Length), TestIdentities.Flow(), null, TimeSpan.FromSeconds(1)));

        Assert.Equal(
            "{\"data\":" + Event + ",\"action\":\"message\",\"user_name\":\"n::000000000000000000000001\",\"conn_id\":\"1735689600:0123456789abcdef0123456789abcdef\",\"token\":\"\",\"access_public\":true}",
            body);
    }

    [Fact]
    public void User_and_token_are_json_escaped_and_otherwise_left_as_they_are()
    {
        var odd = TestIdentities.Tapr("c\"1", user: "a\"b\\c\u0001 Zoë <x>", token: "t\n&'");

        var body = Write(new ConnectionOpened(odd));

        Assert.Equal(
            "{\"data\":{},\"action\":\"open\",\"user_name\":\"a\\\"b\\\\c\\u0001 Zoë <x>\",\"conn_id\":\"c\\\"1\",\"token\":\"t\\n&'\",\"access_public\":false}",
            body);
        var json = JsonDocument.Parse(body).RootElement;
        Assert.Equal(odd.User, json.GetProperty("user_name").GetString());
        Assert.Equal(odd.Token, json.GetProperty("token").GetString());
        Assert.Equal(odd.Id.Value, json.GetProperty("conn_id").GetString());
    }

    private static MessageReceived ObjectMessage(string json)
    {
        var frame = Encoding.UTF8.GetBytes(json);
        return new MessageReceived(Alice, new ForwardToApp(frame, FrameKind.JsonObject, 0, frame.Length), TestIdentities.Flow());
    }

    private static string Write(CallbackEvent callbackEvent) => Encoding.UTF8.GetString(CallbackBody.Write(callbackEvent));
}
