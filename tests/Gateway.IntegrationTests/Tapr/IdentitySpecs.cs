using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Tapr;

/// <summary>PROTOCOL.md §3: user, token, access_public, conn_id and User-Agent of a TAPR connection.</summary>
[Collection(SharedGatewayCollection.Name)]
public sealed partial class IdentitySpecs(SharedGatewayFixture fixture, ITestOutputHelper output) : GatewaySpec(fixture.Host, output)
{
    [Fact]
    public async Task The_user_header_is_taken_verbatim_including_odd_characters()
    {
        var marker = Guid.NewGuid().ToString("N")[..8];
        var user = $"Ann-Marie O'Brien <a@b.c> \"q\" \\ ;,=?&%20{{}}[]\tx/{marker}";
        var request = RawHttp.UpgradeRequest("/ws", Gateway.Port, "X-Bfl-User: " + user, "Cookie: auth_token=odd-" + marker);

        var (connection, response) = await RawHttp.SendAsync(Gateway.Port, request);
        await using var _ = connection;
        Assert.Equal(101, response.Status);
        var open = await App.WaitForAsync(r => r.Action == "open" && r.Token == "odd-" + marker);

        Assert.Equal(user, open.UserName);

        // Only the escapes JSON requires: quote, backslash, control characters.
        var expected = $"{{\"data\":{{}},\"action\":\"open\",\"user_name\":\"Ann-Marie O'Brien <a@b.c> \\\"q\\\" \\\\ ;,=?&%20{{}}[]\\tx/{marker}\",\"conn_id\":\"{open.ConnId}\",\"token\":\"odd-{marker}\",\"access_public\":false}}";
        Assert.Equal(expected, open.BodyText);
    }

    [Fact]
    public async Task A_utf8_user_header_reaches_the_app_as_the_same_utf8_text()
    {
        // Go hands header bytes through untouched; a user name in UTF-8 must come out as the same characters.
        var marker = Guid.NewGuid().ToString("N")[..8];
        var user = $"J\u00fcrgen-\u674e-{marker}";
        var request = Encoding.UTF8.GetBytes(RawHttp.UpgradeRequest("/ws", Gateway.Port, "X-Bfl-User: " + user, "Cookie: auth_token=utf8-" + marker));

        var (connection, response) = await RawHttp.SendAsync(Gateway.Port, request);
        await using var _ = connection;
        Assert.Equal(101, response.Status);
        var open = await App.WaitForAsync(r => r.Action == "open" && r.Token == "utf8-" + marker);

        Assert.Equal(user, open.UserName);
        var expected = Encoding.UTF8.GetBytes($"\"user_name\":\"{user}\"");
        Assert.True(open.Body.AsSpan().IndexOf(expected) >= 0, $"the body must carry the name as raw UTF-8: {open.BodyText}");
    }

    [Fact]
    public async Task A_missing_user_header_gives_user_name_empty_and_the_connection_is_accepted()
    {
        var token = "anon-" + Guid.NewGuid().ToString("N");

        await using var client = await WsClient.ConnectAsync(Gateway.WebSocketUri(), user: null, cookie: "auth_token=" + token);
        var open = await App.WaitForAsync(r => r.Action == "open" && r.Token == token);
        await client.SendTextAsync("{\"event\":\"ping\"}");

        Assert.Equal(ExpectedCallback("open", string.Empty, open.ConnId!, token, accessPublic: false), open.BodyText);
        Assert.Equal("{\"event\":\"pong\"}", await client.ReceiveTextAsync());
    }

    [Fact]
    public async Task The_auth_token_cookie_is_the_token_and_access_is_not_public()
    {
        var user = UniqueUser("cookie");
        var token = "tok-" + Guid.NewGuid().ToString("N");
        var cookie = $"theme=dark; auth_token={token}; lang=en";

        var (_, open) = await ConnectAndOpenAsync(user, cookie);

        Assert.Equal(token, open.Token);
        Assert.False(open.AccessPublic);
        Assert.Equal(ExpectedCallback("open", user, open.ConnId!, token, accessPublic: false), open.BodyText);
        Assert.Equal(cookie, open.Cookie);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("theme=dark; lang=en")]
    [InlineData("auth_token=")]
    public async Task Without_an_auth_token_the_token_is_a_fresh_uuid_and_access_is_public(string? cookie)
    {
        var user = UniqueUser("public");

        await using var first = await WsClient.ConnectAsync(Gateway.WebSocketUri(), user, cookie);
        await using var second = await WsClient.ConnectAsync(Gateway.WebSocketUri(), user, cookie);
        var opens = await App.WaitForCountAsync(2, r => r.Action == "open" && r.UserName == user);

        Assert.All(opens, open =>
        {
            Assert.Matches(LowercaseUuid(), open.Token);
            Assert.True(open.AccessPublic);
            Assert.Equal(ExpectedCallback("open", user, open.ConnId!, open.Token!, accessPublic: true), open.BodyText);
        });
        Assert.NotEqual(opens[0].Token, opens[1].Token);
    }

    [Fact]
    public async Task Conn_ids_are_distinct_lowercase_uuid_v4()
    {
        var user = UniqueUser("ids");

        for (var i = 0; i < 5; i++)
        {
            await ConnectAsync(user);
        }

        var opens = await App.WaitForCountAsync(5, r => r.Action == "open" && r.UserName == user);
        Assert.All(opens, open => Assert.Matches(UuidV4(), open.ConnId));
        Assert.Equal(5, opens.Select(o => o.ConnId).Distinct().Count());
    }

    [Fact]
    public async Task The_user_agent_and_its_md5_tag_are_listed()
    {
        var user = UniqueUser("agent");
        const string agent = "Mozilla/5.0 (X11; Linux x86_64) GatewayTests/1.0";
        var (_, open) = await ConnectAndOpenAsync(user, userAgent: agent);

        var connection = await ListedConnectionAsync(user, open.ConnId!);

        Assert.Equal(agent, connection.GetProperty("userAgent").GetString());
        Assert.Equal(Convert.ToHexStringLower(MD5.HashData(Encoding.UTF8.GetBytes(agent))), connection.GetProperty("userAgentTag").GetString());
    }

    [Fact]
    public async Task Without_a_user_agent_both_user_agent_and_tag_are_empty()
    {
        var user = UniqueUser("noagent");
        var request = RawHttp.UpgradeRequest("/ws", Gateway.Port, "X-Bfl-User: " + user);
        var (raw, response) = await RawHttp.SendAsync(Gateway.Port, request);
        await using var _ = raw;
        Assert.Equal(101, response.Status);
        var open = await App.WaitForOpenAsync(user);

        var connection = await ListedConnectionAsync(user, open.ConnId!);

        Assert.Equal(string.Empty, connection.GetProperty("userAgent").GetString());
        Assert.Equal(string.Empty, connection.GetProperty("userAgentTag").GetString());
    }

    [Fact]
    public async Task By_default_nothing_is_sent_on_connect()
    {
        var (client, _) = await ConnectAndOpenAsync(UniqueUser("quiet"));

        await client.AssertNoMessageAsync();
    }

    [Fact]
    public async Task The_counter_conn_id_format_gives_increasing_decimal_ids()
    {
        var host = await StartOwnGatewayAsync(o => o.With("Tapr", "ConnIdFormat", "counter"), "counter gateway");
        var user = UniqueUser("counter");

        for (var i = 0; i < 3; i++)
        {
            await ConnectAsync(user, host: host);
            await host.App.WaitForCountAsync(i + 1, r => r.Action == "open");
        }

        var ids = host.App.Requests.Where(r => r.Action == "open").Select(r => r.ConnId).ToList();
        Assert.Equal(["1", "2", "3"], ids);
    }

    [Fact]
    public async Task The_send_hello_option_sends_the_connected_frame_with_the_conn_id_first()
    {
        var host = await StartOwnGatewayAsync(o => o.With("Tapr", "SendHello", "true"), "hello gateway");
        var user = UniqueUser("hello");

        var (client, open) = await ConnectAndOpenAsync(user, host: host);
        var hello = await client.ReceiveAsync();

        Assert.True(hello.IsText);
        Assert.Equal($"{{\"event\":\"connected\",\"data\":{{\"conn_id\":\"{open.ConnId}\"}}}}", hello.Text);
        Assert.Matches(UuidV4(), open.ConnId);
    }

    private async Task<JsonElement> ListedConnectionAsync(string user, string connId)
    {
        var list = await Gateway.Admin.ListAsync();
        using var document = JsonDocument.Parse(list.Body);
        var entry = document.RootElement.GetProperty("data").EnumerateArray().Single(u => u.GetProperty("name").GetString() == user);
        var all = entry.GetProperty("conns").EnumerateArray().Concat(entry.GetProperty("public_conns").EnumerateArray());
        return all.Single(c => c.GetProperty("id").GetString() == connId).Clone();
    }

    [GeneratedRegex("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")]
    private static partial Regex UuidV4();

    [GeneratedRegex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    private static partial Regex LowercaseUuid();
}
