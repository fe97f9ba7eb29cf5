using System.Buffers;
using System.Text;
using Gateway.WebSockets;

namespace Gateway.Tests.WebSockets;

/// <summary>
/// The lean path's request head parser (<see cref="UpgradeRequest.TryParse"/>): what it takes from a head, and every
/// head it leaves to Kestrel's HTTP stack (RFC 9112 §2.2, §3, §5).
/// </summary>
public sealed class UpgradeRequestSpecs
{
    private const string Upgrade =
        "GET /ws?token=abc&x=1 HTTP/1.1\r\n" +
        "Host: gateway.local:8080\r\n" +
        "Upgrade: websocket\r\n" +
        "Connection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
        "Sec-WebSocket-Version: 13\r\n" +
        "x-bfl-user: \t alice \t\r\n" +
        "Cookie: a=1\r\n" +
        "cookie: b=2\r\n" +
        "X-Empty:\r\n" +
        "\r\n";

    [Fact]
    public void An_upgrade_head_gives_its_request_line_and_every_header_with_its_values_in_order()
    {
        var request = Parse(Upgrade);

        Assert.Equal("GET", request.Method);
        Assert.Equal("/ws?token=abc&x=1", request.RawTarget);
        Assert.Equal("HTTP/1.1", request.Protocol);
        Assert.Equal("/ws", request.Path);
        Assert.Equal("?token=abc&x=1", request.QueryString);
        Assert.Equal("gateway.local:8080", request["host"].ToString());
        Assert.Equal("dGhlIHNhbXBsZSBub25jZQ==", request["Sec-WebSocket-Key"].ToString());
        Assert.Equal("alice", request.Last("X-Bfl-User")); // spaces and tabs around a value are not part of it
        Assert.Equal(new[] { "a=1", "b=2" }, request["Cookie"].ToArray().Select(value => value ?? string.Empty));
        Assert.Equal("", request.Last("X-Empty"));
        Assert.True(request.Has("x-empty"));
        Assert.Equal(8, request.Headers.Count);
        Assert.Contains("x-bfl-user", request.Headers.Keys); // names as sent
        Assert.Equal("abc", request.Query("token"));
    }

    [Fact]
    public void A_head_without_headers_or_query_parses()
    {
        var request = Parse("GET /websocket HTTP/1.1\r\n\r\n");

        Assert.Equal("/websocket", request.Path);
        Assert.Equal("", request.QueryString);
        Assert.Empty(request.Headers);
    }

    [Fact]
    public void Values_are_utf8_and_bytes_that_are_not_become_replacement_characters_as_on_kestrels_path()
    {
        var head = Concat("GET /ws HTTP/1.1\r\nX-Bfl-User: ", Encoding.UTF8.GetBytes("jöhn"), "\r\nX-Other: caf", new byte[] { 0xE9 }, "\r\n\r\n");

        var request = Parse(head);

        Assert.Equal("jöhn", request.Last("X-Bfl-User"));
        Assert.Equal("caf\uFFFD", request.Last("X-Other")); // Kestrel with RequestHeaderEncodingSelector UTF-8 gives the same
    }

    [Fact]
    public void Header_names_keep_their_spelling_and_a_repeated_header_keeps_the_first()
    {
        var request = Parse(Upgrade);

        Assert.Equal(["Host", "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version", "x-bfl-user", "Cookie", "X-Empty"], request.Headers.Keys);
    }

    [Fact]
    public void A_value_keeps_its_inner_whitespace_and_a_value_of_only_whitespace_is_empty()
    {
        var request = Parse("GET /ws HTTP/1.1\r\nX-A: a \t b\r\nX-B: \t \r\n\r\n");

        Assert.Equal("a \t b", request.Last("X-A"));
        Assert.Equal("", request.Last("X-B"));
    }

    [Fact]
    public void Another_method_is_kept_as_sent_for_the_handshake_validation_to_refuse()
    {
        Assert.Equal("POST", Parse("POST /ws HTTP/1.1\r\n\r\n").Method);
    }

    [Fact]
    public void The_head_ends_after_its_blank_line_and_what_follows_is_left_unread()
    {
        var head = Concat(Upgrade, new byte[] { 0x81, 0x80 });

        Assert.True(UpgradeRequest.TryParse(new ReadOnlySequence<byte>(head), HeadLimits.KestrelDefaults, out _, out var headEnd, out _));

        Assert.Equal([0x81, 0x80], new ReadOnlySequence<byte>(head).Slice(headEnd).ToArray());
    }

    [Fact]
    public void A_head_split_over_several_segments_parses_as_one()
    {
        var bytes = Encoding.Latin1.GetBytes(Upgrade);
        var sequence = Segments.Of([.. bytes.Chunk(7)]);

        Assert.True(UpgradeRequest.TryParse(sequence, HeadLimits.KestrelDefaults, out var request, out var headEnd, out _));

        Assert.Equal("alice", request!.Last("X-Bfl-User"));
        Assert.Equal("/ws", request.Path);
        Assert.Equal(0, sequence.Slice(headEnd).Length);
    }

    [Fact]
    public void An_incomplete_head_asks_for_more_unless_it_is_malformed_already()
    {
        Assert.False(UpgradeRequest.TryParse(Sequence("GET /ws HTTP/1.1\r\nHost: x\r"), HeadLimits.KestrelDefaults, out _, out _, out var needMore));
        Assert.True(needMore);

        Assert.False(UpgradeRequest.TryParse(Sequence("GET /ws HTTP/1.1\nHost: x\r\n"), HeadLimits.KestrelDefaults, out _, out _, out needMore));
        Assert.False(needMore);
    }

    [Theory]
    [InlineData("GET /ws HTTP/1.1\r\nHost: a\rb\r\n\r\n")] // a bare CR
    [InlineData("GET /ws HTTP/1.1\r\nHost: a\u0001b\r\n\r\n")] // a control character
    [InlineData("GET /ws HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n")] // a folded line
    [InlineData("GET /ws HTTP/1.1\r\nHost : a\r\n\r\n")] // whitespace before the colon
    [InlineData("GET /ws HTTP/1.1\r\nHo(st: a\r\n\r\n")] // a name that is not a token
    [InlineData("GET /ws HTTP/1.1\r\n: a\r\n\r\n")] // no name
    [InlineData("GET /ws HTTP/1.1\r\nHost\r\n\r\n")] // no colon
    [InlineData("GET  /ws HTTP/1.1\r\n\r\n")] // two spaces
    [InlineData(" GET /ws HTTP/1.1\r\n\r\n")] // a leading space
    [InlineData("GET /ws HTTP/1.1 \r\n\r\n")] // a trailing space
    [InlineData("GET /ws HTTP/1.0\r\n\r\n")] // another version
    [InlineData("GET ws HTTP/1.1\r\n\r\n")] // a target that is not a path
    [InlineData("GET /ws#frag HTTP/1.1\r\n\r\n")] // a fragment
    [InlineData("GET /w%73 HTTP/1.1\r\n\r\n")] // a percent-encoded path: Kestrel decodes it
    [InlineData("G(T /ws HTTP/1.1\r\n\r\n")] // a method that is not a token
    [InlineData("GET /ws\r\n\r\n")] // one space
    [InlineData("GET /ws?a=1#frag HTTP/1.1\r\n\r\n")] // a fragment after the query
    [InlineData("\r\n\r\n")] // an empty head
    [InlineData("\r\nGET /ws HTTP/1.1\r\n\r\n")] // a blank line before the request line
    public void A_head_this_parser_does_not_represent_exactly_is_left_to_kestrel(string head)
    {
        Assert.False(UpgradeRequest.TryParse(Sequence(head), HeadLimits.KestrelDefaults, out var request, out _, out var needMore));
        Assert.Null(request);
        Assert.False(needMore);
    }

    [Fact]
    public void A_percent_sign_in_the_query_is_kept_as_sent()
    {
        Assert.Equal("?q=%20", Parse("GET /ws?q=%20 HTTP/1.1\r\n\r\n").QueryString);
    }

    [Theory]
    [InlineData("GET /w", " HTTP/1.1\r\n\r\n")]
    [InlineData("GET /ws?q=", " HTTP/1.1\r\n\r\n")]
    public void A_non_ascii_target_is_left_to_kestrel(string before, string after)
    {
        Assert.False(UpgradeRequest.TryParse(new ReadOnlySequence<byte>(Concat(before, new byte[] { 0xC3, 0xB6 }, after)), HeadLimits.KestrelDefaults, out var request, out _, out var needMore));
        Assert.Null(request);
        Assert.False(needMore);
    }

    [Fact]
    public void A_head_over_sixteen_kilobytes_is_left_to_kestrel()
    {
        var head = "GET /ws HTTP/1.1\r\n" + string.Concat(Enumerable.Range(0, 200).Select(i => $"X-H{i}: {new string('v', 80)}\r\n")) + "\r\n";

        Assert.False(UpgradeRequest.TryParse(Sequence(head), new HeadLimits(1 << 20, 1 << 20, 1000), out _, out _, out var needMore));
        Assert.False(needMore);
    }

    [Fact]
    public void A_head_near_kestrels_limits_is_left_to_kestrel()
    {
        var limits = new HeadLimits(MaxRequestLineBytes: 100, MaxHeadersBytes: 200, MaxHeaderCount: 2);
        var fine = "GET /ws HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n";
        Assert.True(UpgradeRequest.TryParse(Sequence(fine), limits, out _, out _, out _));

        Assert.False(UpgradeRequest.TryParse(Sequence("GET /ws HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), limits, out _, out _, out _)); // count

        // The request line without its CRLF, plus 2, under 100 - 64: up to 33 bytes.
        Assert.True(UpgradeRequest.TryParse(Sequence("GET /" + new string('w', 19) + " HTTP/1.1\r\n\r\n"), limits, out _, out _, out _));
        Assert.False(UpgradeRequest.TryParse(Sequence("GET /" + new string('w', 20) + " HTTP/1.1\r\n\r\n"), limits, out _, out _, out _));

        // The headers with their CRLFs (not the blank line's), under 200 - 64: up to 135 bytes.
        Assert.True(UpgradeRequest.TryParse(Sequence("GET /ws HTTP/1.1\r\nA: " + new string('v', 130) + "\r\n\r\n"), limits, out _, out _, out _));
        Assert.False(UpgradeRequest.TryParse(Sequence("GET /ws HTTP/1.1\r\nA: " + new string('v', 131) + "\r\n\r\n"), limits, out _, out _, out _));
    }

    private static UpgradeRequest Parse(string head) => Parse(Encoding.Latin1.GetBytes(head));

    private static UpgradeRequest Parse(byte[] head)
    {
        Assert.True(UpgradeRequest.TryParse(new ReadOnlySequence<byte>(head), HeadLimits.KestrelDefaults, out var request, out _, out var needMore));
        Assert.False(needMore);
        return request!;
    }

    private static ReadOnlySequence<byte> Sequence(string text) => new(Encoding.Latin1.GetBytes(text));

    private static byte[] Concat(params object[] parts) =>
        [.. parts.SelectMany(part => part is string text ? Encoding.Latin1.GetBytes(text) : (byte[])part)];
}
