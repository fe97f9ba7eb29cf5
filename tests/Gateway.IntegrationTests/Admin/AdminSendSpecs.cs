using System.Net;
using System.Security.Cryptography;
using System.Text;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Admin;

/// <summary>PROTOCOL.md §4 <c>POST /tapr/ws/conn/send</c>: targets, verbatim payloads, receipts and errors.</summary>
[Collection(SharedGatewayCollection.Name)]
public sealed class AdminSendSpecs(SharedGatewayFixture fixture, ITestOutputHelper output) : GatewaySpec(fixture.Host, output)
{
    [Theory]
    [InlineData("{\"z\":1, \"a\" : [1,2,{\"b\":null}], \"big\":123456789012345678901234567890, \"f\":1.50, \"s\":\"caf\u00e9 \\u00e9\"}")]
    [InlineData("[3,2,1]")]
    [InlineData("\"just a string\"")]
    [InlineData("12345678901234567890.000")]
    [InlineData("true")]
    public async Task The_payload_reaches_the_client_verbatim_as_one_text_frame_and_the_receipt_counts_it(string payload)
    {
        var (client, open) = await ConnectAndOpenAsync(UniqueUser("verbatim"));

        var response = await Gateway.Admin.SendAsync($"{{\"conn_id\":\"{open.ConnId}\",\"payload\": {payload} }}");
        var frame = await client.ReceiveAsync();

        Assert.Equal(HttpStatusCode.OK, response.Status);
        Assert.Equal("application/json", response.ContentType);
        Assert.Equal("{\"code\":0,\"data\":{\"matched\":1,\"enqueued\":1,\"dropped\":0},\"message\":\"success\"}", response.Text);
        Assert.True(frame.IsText, $"expected a text frame, got {frame}");
        Assert.Equal(Encoding.UTF8.GetBytes(payload), frame.Data);
    }

    [Fact]
    public async Task A_missing_payload_sends_null()
    {
        var (client, open) = await ConnectAndOpenAsync(UniqueUser("nopayload"));

        var response = await Gateway.Admin.SendAsync($"{{\"conn_id\":\"{open.ConnId}\"}}");

        Assert.Equal("{\"code\":0,\"data\":{\"matched\":1,\"enqueued\":1,\"dropped\":0},\"message\":\"success\"}", response.Text);
        Assert.Equal("null", await client.ReceiveTextAsync());
    }

    [Fact]
    public async Task Keys_match_case_insensitively_and_unknown_keys_are_ignored()
    {
        var (client, open) = await ConnectAndOpenAsync(UniqueUser("keys"));

        var response = await Gateway.Admin.SendAsync($"{{\"Unknown\":[1,{{}}],\"CONN_ID\":\"{open.ConnId}\",\"Payload\":{{\"x\":1}}}}");

        Assert.Equal("{\"code\":0,\"data\":{\"matched\":1,\"enqueued\":1,\"dropped\":0},\"message\":\"success\"}", response.Text);
        Assert.Equal("{\"x\":1}", await client.ReceiveTextAsync());
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData(null)]
    public async Task The_content_type_is_not_checked(string? contentType)
    {
        var (client, open) = await ConnectAndOpenAsync(UniqueUser("ctype"));

        var response = await Gateway.Admin.PostAsync("/tapr/ws/conn/send", $"{{\"conn_id\":\"{open.ConnId}\",\"payload\":1}}", contentType);

        Assert.Equal("{\"code\":0,\"data\":{\"matched\":1,\"enqueued\":1,\"dropped\":0},\"message\":\"success\"}", response.Text);
        Assert.Equal("1", await client.ReceiveTextAsync());
    }

    [Fact]
    public async Task The_binary_option_sends_the_decoded_base64_as_a_binary_frame()
    {
        var (client, open) = await ConnectAndOpenAsync(UniqueUser("binary"));

        var response = await Gateway.Admin.SendAsync($"{{\"conn_id\":\"{open.ConnId}\",\"payload\":\"AAEC/w==\",\"binary\":true}}");
        var frame = await client.ReceiveAsync();

        Assert.Equal("{\"code\":0,\"data\":{\"matched\":1,\"enqueued\":1,\"dropped\":0},\"message\":\"success\"}", response.Text);
        Assert.False(frame.IsText);
        Assert.Equal(new byte[] { 0, 1, 2, 0xff }, frame.Data);
    }

    [Fact]
    public async Task Targets_are_the_intersection_of_the_given_filters()
    {
        var userA = UniqueUser("alice");
        var userB = UniqueUser("bob");
        var tokA = "ta-" + Guid.NewGuid().ToString("N");
        var tokB = "tb-" + Guid.NewGuid().ToString("N");
        var (a, openA) = await ConnectAndOpenAsync(userA, "auth_token=" + tokA);
        var b = await ConnectAsync(userA);
        var openB = await App.WaitForAsync(r => r.Action == "open" && r.UserName == userA && r.ConnId != openA.ConnId);
        var (c, openC) = await ConnectAndOpenAsync(userB, "auth_token=" + tokA);
        var d = await ConnectAsync(userB, "auth_token=" + tokB);
        var openD = await App.WaitForAsync(r => r.Action == "open" && r.UserName == userB && r.ConnId != openC.ConnId);
        var clients = new Dictionary<string, (WsClient Client, string ConnId)>
        {
            ["A"] = (a, openA.ConnId!),
            ["B"] = (b, openB.ConnId!),
            ["C"] = (c, openC.ConnId!),
            ["D"] = (d, openD.ConnId!),
        };
        var md5A = Convert.ToHexStringLower(MD5.HashData(Encoding.UTF8.GetBytes(tokA)));
        var cases = new (string Filter, string Expected)[]
        {
            ($"\"users\":[\"{userA}\"]", "AB"),
            ($"\"users\":[\"{userA}\"],\"users_access_type\":0", "AB"),
            ($"\"users\":[\"{userA}\"],\"users_access_type\":1", "A"),
            ($"\"users\":[\"{userA}\"],\"users_access_type\":2", "B"),
            ($"\"users\":[\"{userA}\",\"{userB}\"],\"users_access_type\":1", "ACD"),
            ($"\"users\":[\"{userB}\"],\"users_access_type\":2", string.Empty),
            ($"\"tokens\":[\"{tokA}\"]", "AC"),
            ($"\"tokens\":[\"{md5A}\"]", "AC"),
            ($"\"tokens\":[\"{tokA}\"],\"users_access_type\":2", "AC"),
            ($"\"users\":[\"{userA}\"],\"tokens\":[\"{tokA}\"]", "A"),
            ($"\"users\":[\"{userB}\"],\"tokens\":[\"{tokB}\",\"{tokA}\"]", "CD"),
            ($"\"users\":[\"{userB}\"],\"conn_id\":\"{openA.ConnId}\"", string.Empty),
            ($"\"conn_id\":\"{openA.ConnId}\",\"tokens\":[\"{tokA}\"]", "A"),
            ($"\"conn_id\":\"{openB.ConnId}\"", "B"),
            ("\"users\":[\"nobody-at-all\"]", string.Empty),
            ("\"conn_id\":\"no-such-connection\"", string.Empty),
            ("\"tokens\":[\"no-such-token\"]", string.Empty),
        };

        for (var i = 0; i < cases.Length; i++)
        {
            var response = await Gateway.Admin.SendAsync($"{{\"payload\":{{\"case\":{i}}},{cases[i].Filter}}}");
            var n = cases[i].Expected.Length;
            Assert.Equal($"{{\"code\":0,\"data\":{{\"matched\":{n},\"enqueued\":{n},\"dropped\":0}},\"message\":\"success\"}}", response.Text);
        }

        foreach (var (name, (client, connId)) in clients)
        {
            await Gateway.Admin.SendAsync($"{{\"conn_id\":\"{connId}\",\"payload\":\"end\"}}");
            var received = new List<string>();
            for (var frame = await client.ReceiveTextAsync(); frame != "\"end\""; frame = await client.ReceiveTextAsync())
            {
                received.Add(frame);
            }

            var expected = Enumerable.Range(0, cases.Length).Where(i => cases[i].Expected.Contains(name, StringComparison.Ordinal)).Select(i => $"{{\"case\":{i}}}");
            Assert.Equal(expected, received);
        }
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("{\"payload\":{\"a\":1}}")]
    [InlineData("{\"conn_id\":\"\"}")]
    [InlineData("{\"conn_id\":null,\"users\":null,\"tokens\":null}")]
    [InlineData("{\"users\":[],\"tokens\":[]}")]
    [InlineData("{\"users_access_type\":1}")]
    [InlineData("{\"conn\":\"misspelled\",\"user\":[\"x\"]}")]
    [InlineData("null")]
    public async Task Without_a_target_the_answer_is_send_message_target_is_nil(string body)
    {
        var response = await Gateway.Admin.SendAsync(body);

        Assert.Equal(HttpStatusCode.OK, response.Status);
        Assert.Equal("{\"code\":400,\"message\":\"send message target is nil\"}", response.Text);
    }

    [Theory]
    [InlineData("", "unexpected end of JSON input")]
    [InlineData("{", "unexpected end of JSON input")]
    [InlineData("{\"users\":\"bob\"}", "json: cannot unmarshal string into Go struct field sendMesssageReq.users of type []string")]
    [InlineData("{\"conn_id\":5}", "json: cannot unmarshal number into Go struct field sendMesssageReq.conn_id of type string")]
    [InlineData("{\"users\":[\"a\"],\"users_access_type\":\"1\"}", "json: cannot unmarshal string into Go struct field sendMesssageReq.users_access_type of type int")]
    [InlineData("[1]", "json: cannot unmarshal array into Go value of type app.sendMesssageReq")]
    public async Task Invalid_json_or_wrong_types_give_code_400_send_data_invalid(string body, string detail)
    {
        var response = await Gateway.Admin.SendAsync(body);

        Assert.Equal(HttpStatusCode.OK, response.Status);
        Assert.Equal($"{{\"code\":400,\"message\":\"send data invalid, {detail}\"}}", response.Text);
    }

    [Theory]
    [InlineData("nope")]
    [InlineData("{\"users\":[1,2]}")]
    [InlineData("{\"tokens\":{\"a\":1}}")]
    [InlineData("{\"users\":[\"a\"],\"users_access_type\":1.5}")]
    [InlineData("{\"users\":[\"a\"],\"users_access_type\":99999999999}")]
    [InlineData("{\"conn_id\":\"x\",\"payload\":}")]
    [InlineData("{\"conn_id\":\"x\",\"payload\":1,}")]
    public async Task Other_malformed_bodies_also_give_code_400_send_data_invalid(string body)
    {
        var response = await Gateway.Admin.SendAsync(body);

        Assert.Equal(HttpStatusCode.OK, response.Status);
        Assert.StartsWith("{\"code\":400,\"message\":\"send data invalid, ", response.Text, StringComparison.Ordinal);
        Assert.EndsWith("\"}", response.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_body_of_exactly_4_MiB_is_accepted()
    {
        var prefix = "{\"conn_id\":\"no-such-connection\",\"payload\":\"";
        var suffix = "\"}";
        var body = prefix + new string('p', (4 * 1024 * 1024) - prefix.Length - suffix.Length) + suffix;

        var response = await Gateway.Admin.SendAsync(body);

        Assert.Equal(HttpStatusCode.OK, response.Status);
        Assert.Equal("{\"code\":0,\"data\":{\"matched\":0,\"enqueued\":0,\"dropped\":0},\"message\":\"success\"}", response.Text);
    }

    [Fact]
    public async Task Trailing_data_after_the_body_is_reported_in_gos_words()
    {
        // Go's json.Unmarshal checks the whole input first: "invalid character 't' after top-level value".
        var response = await Gateway.Admin.SendAsync("{\"conn_id\":\"x\"} trailing");

        Assert.Equal("{\"code\":400,\"message\":\"send data invalid, invalid character 't' after top-level value\"}", response.Text);
    }

    [Theory]
    [InlineData("/tapr/ws/conn/send")]
    [InlineData("/tapr/ws/conn/close")]
    public async Task A_declared_content_length_over_4_MiB_is_413_before_the_body_is_read(string path)
    {
        // Only the head: the gateway must answer from Content-Length alone.
        var request = $"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {(4 * 1024 * 1024) + 1}\r\n\r\n";

        var (connection, response) = await RawHttp.SendAsync(Gateway.Port, request);
        await using var _ = connection;

        Assert.Equal(413, response.Status);
    }

    [Theory]
    [InlineData("/tapr/ws/conn/send")]
    [InlineData("/tapr/ws/conn/close")]
    public async Task A_chunked_body_over_4_MiB_is_413(string path)
    {
        var body = "{\"conn_id\":\"x\",\"payload\":\"" + new string('p', (4 * 1024 * 1024) + 1) + "\"}";
        using var content = new StreamContent(new UnknownLengthStream(Encoding.UTF8.GetBytes(body)));

        var response = await Gateway.Admin.PostAsync(path, content);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.Status);
    }

    /// <summary>A stream whose length is unknown, so the body goes chunked.</summary>
    private sealed class UnknownLengthStream(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;
    }
}
