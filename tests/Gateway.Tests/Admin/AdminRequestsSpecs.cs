using System.Text;
using Gateway.Admin;
using Gateway.Registry;
using Gateway.WebSockets;

namespace Gateway.Tests.Admin;

public sealed class AdminRequestsSpecs
{
    [Fact]
    public void A_send_names_its_targets_and_carries_the_payload_verbatim()
    {
        var (filter, message, error) = Send("{\"payload\": {\"b\" : 1, \"a\":[1.50,123456789012345678901234567890]} ,\"conn_id\":\"c1\",\"users\":[\"alice\",\"bob\"],\"tokens\":[\"t1\"],\"users_access_type\":2}");

        Assert.Null(error);
        Assert.Equal(["c1"], filter!.ConnIds!);
        Assert.Equal(["alice", "bob"], filter.Users!.Order(StringComparer.Ordinal));
        Assert.Equal(["t1"], filter.Tokens!);
        Assert.Null(filter.Channels);
        Assert.Equal(2, filter.UsersAccessType);
        Assert.False(filter.All);
        Assert.Equal(Opcode.Text, message!.Opcode);
        Assert.Equal("{\"b\" : 1, \"a\":[1.50,123456789012345678901234567890]}", Text(message));
    }

    [Theory]
    [InlineData("{\"conn_id\":\"c1\"}", "null")]
    [InlineData("{\"conn_id\":\"c1\",\"payload\":null}", "null")]
    [InlineData("{\"conn_id\":\"c1\",\"payload\":\"hi \\\"you\\\"\"}", "\"hi \\\"you\\\"\"")]
    [InlineData("{\"conn_id\":\"c1\",\"payload\":42}", "42")]
    [InlineData("{\"conn_id\":\"c1\",\"payload\":[1,{\"x\":true}]}", "[1,{\"x\":true}]")]
    [InlineData("{\"payload\":{\"first\":1},\"conn_id\":\"c1\",\"payload\":{\"last\":2}}", "{\"last\":2}")]
    public void The_frame_is_the_payload_json_and_a_missing_payload_sends_null(string body, string frame)
    {
        var (_, message, error) = Send(body);

        Assert.Null(error);
        Assert.Equal(frame, Text(message!));
    }

    [Fact]
    public void Keys_match_case_insensitively_and_unknown_keys_are_ignored()
    {
        var (filter, message, error) = Send("{\"PAYLOAD\":{\"x\":1},\"Conn_Id\":\"c1\",\"Users\":[\"alice\"],\"TOKENS\":[\"t\"],\"Users_Access_Type\":1,\"Channels\":[\"room\"],\"extra\":{\"deep\":[1,2]},\"connid\":\"nope\"}");

        Assert.Null(error);
        Assert.Equal(["c1"], filter!.ConnIds!);
        Assert.Equal(["alice"], filter.Users!);
        Assert.Equal(["t"], filter.Tokens!);
        Assert.Equal(["room"], filter.Channels!);
        Assert.Equal(1, filter.UsersAccessType);
        Assert.Equal("{\"x\":1}", Text(message!));
    }

    [Fact]
    public void An_exact_key_match_is_decoded_like_any_other_and_the_last_duplicate_wins()
    {
        var (filter, _, error) = Send("{\"users\":[\"first\"],\"USERS\":[\"second\"],\"conn_id\":\"a\",\"conn_id\":\"b\"}");

        Assert.Null(error);
        Assert.Equal(["second"], filter!.Users!);
        Assert.Equal(["b"], filter.ConnIds!);
    }

    [Fact]
    public void Null_fields_are_left_at_their_zero_value()
    {
        var (filter, _, error) = Send("{\"users\":[\"alice\"],\"users\":null,\"tokens\":null,\"conn_id\":null,\"users_access_type\":null,\"channels\":[\"room\"]}");

        Assert.Null(error);
        Assert.Null(filter!.Users);
        Assert.Null(filter.Tokens);
        Assert.Null(filter.ConnIds);
        Assert.Equal(0, filter.UsersAccessType);
        Assert.Equal(["room"], filter.Channels!);
    }

    [Fact]
    public void A_null_element_of_a_string_list_is_the_empty_string()
    {
        var (filter, _, error) = Send("{\"users\":[null,\"alice\"]}");

        Assert.Null(error);
        Assert.Equal(["", "alice"], filter!.Users!.Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("null")]
    [InlineData("{}")]
    [InlineData("{\"payload\":{\"x\":1}}")]
    [InlineData("{\"conn_id\":\"\"}")]
    [InlineData("{\"users\":[],\"tokens\":[]}")]
    [InlineData("{\"users_access_type\":1}")]
    [InlineData("{\"connid\":\"c1\",\"user\":[\"alice\"]}")]
    public void A_send_without_a_target_is_refused(string body)
    {
        Assert.Equal((null, null, "send message target is nil"), Send(body));
    }

    [Theory]
    [InlineData("", "send data invalid, unexpected end of JSON input")]
    [InlineData("   ", "send data invalid, unexpected end of JSON input")]
    [InlineData("{\"conn_id\":\"c1\"", "send data invalid, unexpected end of JSON input")]
    [InlineData("{\"users\":[}", "send data invalid, invalid character '}' looking for beginning of value")]
    [InlineData("{\"conn_id\":x}", "send data invalid, invalid character 'x' looking for beginning of value")]
    [InlineData("[]", "send data invalid, json: cannot unmarshal array into Go value of type app.sendMesssageReq")]
    [InlineData("\"c1\"", "send data invalid, json: cannot unmarshal string into Go value of type app.sendMesssageReq")]
    [InlineData("42", "send data invalid, json: cannot unmarshal number into Go value of type app.sendMesssageReq")]
    [InlineData("{\"users\":\"alice\"}", "send data invalid, json: cannot unmarshal string into Go struct field sendMesssageReq.users of type []string")]
    [InlineData("{\"Users\":{}}", "send data invalid, json: cannot unmarshal object into Go struct field sendMesssageReq.users of type []string")]
    [InlineData("{\"users\":[\"a\",1]}", "send data invalid, json: cannot unmarshal number into Go struct field sendMesssageReq.users of type string")]
    [InlineData("{\"tokens\":[true]}", "send data invalid, json: cannot unmarshal bool into Go struct field sendMesssageReq.tokens of type string")]
    [InlineData("{\"conn_id\":5}", "send data invalid, json: cannot unmarshal number into Go struct field sendMesssageReq.conn_id of type string")]
    [InlineData("{\"conn_id\":[\"c1\"]}", "send data invalid, json: cannot unmarshal array into Go struct field sendMesssageReq.conn_id of type string")]
    [InlineData("{\"users_access_type\":\"1\"}", "send data invalid, json: cannot unmarshal string into Go struct field sendMesssageReq.users_access_type of type int")]
    [InlineData("{\"users_access_type\":1.5}", "send data invalid, json: cannot unmarshal number 1.5 into Go struct field sendMesssageReq.users_access_type of type int")]
    [InlineData("{\"users_access_type\":true,\"users\":5}", "send data invalid, json: cannot unmarshal bool into Go struct field sendMesssageReq.users_access_type of type int")]
    public void Invalid_json_and_wrong_types_are_refused_with_go_messages(string body, string expected)
    {
        Assert.Equal((null, null, expected), Send(body));
    }

    [Fact]
    public void Trailing_garbage_after_the_body_is_reported_in_go_words()
    {
        // Go's json.Unmarshal: "invalid character 'x' after top-level value".
        Assert.Equal((null, null, "send data invalid, invalid character 'x' after top-level value"), Send("{\"conn_id\":\"c1\"} x"));
        Assert.Equal((null, 0, string.Empty, "receive data invalid, invalid character '}' after top-level value"), Close("{\"conns\":[\"c1\"]}}"));
    }

    [Fact]
    public void A_binary_send_decodes_its_base64_payload()
    {
        var (filter, message, error) = Send("{\"conn_id\":\"c1\",\"binary\":true,\"payload\":\"AAEC/w==\"}");

        Assert.Null(error);
        Assert.NotNull(filter);
        Assert.Equal(Opcode.Binary, message!.Opcode);
        Assert.Equal(new byte[] { 0, 1, 2, 255 }, message.Payload.ToArray());
    }

    [Fact]
    public void A_binary_payload_is_the_decoded_json_string_even_when_escaped()
    {
        // "\/" is how some encoders (PHP's json_encode among them) write the '/' of base64.
        var (_, message, error) = Send("{\"conn_id\":\"c1\",\"binary\":true,\"payload\":\"AAEC\\/w==\"}");

        Assert.Null(error);
        Assert.Equal(new byte[] { 0, 1, 2, 255 }, message!.Payload.ToArray());
    }

    [Theory]
    [InlineData("{\"conn_id\":\"c1\",\"binary\":true,\"payload\":\"not base64!\"}")]
    [InlineData("{\"conn_id\":\"c1\",\"binary\":true,\"payload\":{\"x\":1}}")]
    [InlineData("{\"conn_id\":\"c1\",\"binary\":true}")]
    public void A_binary_send_needs_a_base64_string(string body)
    {
        Assert.Equal((null, null, "send data invalid, with \"binary\":true the payload must be a base64 string"), Send(body));
    }

    [Fact]
    public void Binary_false_sends_the_payload_as_text()
    {
        var (_, message, _) = Send("{\"conn_id\":\"c1\",\"binary\":false,\"payload\":\"AAEC\"}");

        Assert.Equal(Opcode.Text, message!.Opcode);
        Assert.Equal("\"AAEC\"", Text(message));
    }

    [Fact]
    public void A_close_names_its_targets_with_code_1000_by_default()
    {
        var (filter, code, reason, error) = Close("{\"conns\":[\"c1\",\"c2\"],\"users\":[\"alice\"],\"tokens\":[\"t\"],\"users_access_type\":1,\"channels\":[\"room\"]}");

        Assert.Null(error);
        Assert.Equal(["c1", "c2"], filter!.ConnIds!.Order(StringComparer.Ordinal));
        Assert.Equal(["alice"], filter.Users!);
        Assert.Equal(["t"], filter.Tokens!);
        Assert.Equal(["room"], filter.Channels!);
        Assert.Equal(1, filter.UsersAccessType);
        Assert.False(filter.All);
        Assert.Equal(1000, code);
        Assert.Equal(string.Empty, reason);
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("null")]
    [InlineData("{\"conn\":[\"c1\"],\"user\":[\"alice\"]}")]
    [InlineData("{\"conns\":[],\"users\":null}")]
    [InlineData("{\"tokens\":[\"\"]}")]
    [InlineData("{\"tokens\":[\"\",null]}")]
    [InlineData("{\"all\":false}")]
    [InlineData("{\"users_access_type\":2}")]
    public void A_close_without_a_target_is_refused_unless_it_says_all(string body)
    {
        Assert.Equal((null, 0, string.Empty, "close target is nil"), Close(body));
    }

    [Fact]
    public void Empty_tokens_are_skipped_on_close()
    {
        var (filter, _, _, error) = Close("{\"tokens\":[\"\",\"t1\"]}");

        Assert.Null(error);
        Assert.Equal(["t1"], filter!.Tokens!);
    }

    [Fact]
    public void All_true_targets_every_connection()
    {
        var (filter, code, _, error) = Close("{\"All\":true}");

        Assert.Null(error);
        Assert.Equal(new RegistryProtocol.TargetFilter(All: true), filter);
        Assert.Equal(1000, code);
    }

    [Fact]
    public void The_olares_compatibility_option_closes_everything_on_an_empty_filter()
    {
        var (filter, code, _, error) = AdminRequests.ParseClose(Encoding.UTF8.GetBytes("{}"), closeAllOnEmptyFilter: true);

        Assert.Null(error);
        Assert.True(filter!.All);
        Assert.True(filter.IsEmpty);
        Assert.Equal(1000, code);
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(3000)]
    [InlineData(4000)]
    [InlineData(4999)]
    public void A_close_may_give_its_own_code_and_reason(int given)
    {
        var (_, code, reason, error) = Close($"{{\"conns\":[\"c1\"],\"code\":{given},\"reason\":\"maintenance \\\"now\\\"\"}}");

        Assert.Null(error);
        Assert.Equal(given, code);
        Assert.Equal("maintenance \"now\"", reason);
    }

    [Theory]
    [InlineData(1001)]
    [InlineData(1006)]
    [InlineData(2999)]
    [InlineData(5000)]
    [InlineData(0)]
    [InlineData(-1)]
    public void Close_codes_outside_1000_and_3000_to_4999_are_refused(int given)
    {
        Assert.Equal((null, 0, string.Empty, "receive data invalid, code must be 1000 or within 3000-4999"), Close($"{{\"conns\":[\"c1\"],\"code\":{given}}}"));
    }

    [Theory]
    [InlineData("", "receive data invalid, unexpected end of JSON input")]
    [InlineData("{\"conns\":", "receive data invalid, unexpected end of JSON input")]
    [InlineData("{\"conns\":[,]}", "receive data invalid, invalid character ',' looking for beginning of value")]
    [InlineData("[\"c1\"]", "receive data invalid, json: cannot unmarshal array into Go value of type app.disConnectionReq")]
    [InlineData("{\"conns\":\"c1\"}", "receive data invalid, json: cannot unmarshal string into Go struct field disConnectionReq.conns of type []string")]
    [InlineData("{\"all\":\"yes\"}", "receive data invalid, json: cannot unmarshal string into Go struct field disConnectionReq.all of type bool")]
    [InlineData("{\"conns\":[\"c1\"],\"code\":\"4000\"}", "receive data invalid, json: cannot unmarshal string into Go struct field disConnectionReq.code of type int")]
    [InlineData("{\"conns\":[\"c1\"],\"reason\":1}", "receive data invalid, json: cannot unmarshal number into Go struct field disConnectionReq.reason of type string")]
    public void Invalid_close_bodies_are_refused_with_go_messages(string body, string expected)
    {
        Assert.Equal((null, 0, string.Empty, expected), Close(body));
    }

    private static (RegistryProtocol.TargetFilter? Filter, OutboundMessage? Message, string? Error) Send(string body) =>
        AdminRequests.ParseSend(Encoding.UTF8.GetBytes(body));

    private static (RegistryProtocol.TargetFilter? Filter, int Code, string Reason, string? Error) Close(string body) =>
        AdminRequests.ParseClose(Encoding.UTF8.GetBytes(body), closeAllOnEmptyFilter: false);

    private static string Text(OutboundMessage message) => Encoding.UTF8.GetString(message.Payload.Span);
}
