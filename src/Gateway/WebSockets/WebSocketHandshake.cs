using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Primitives;

namespace Gateway.WebSockets;

/// <summary>Why an opening handshake is refused before the upgrade: an HTTP status, a short text body, and headers to add.</summary>
internal sealed record HandshakeRefusal(int Status, string Body, (string Name, string Value)[] Headers)
{
    public static HandshakeRefusal BadRequest(string body) => new(StatusCodes.Status400BadRequest, body, []);
}

/// <summary>
/// The server side of the RFC 6455 opening handshake: one validation of the whole request head, shared
/// by the lean path and Kestrel's HTTP path (so the two answer every request alike), and the 101.
/// </summary>
internal static class WebSocketHandshake
{
    private const string AcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

    /// <summary>Length of <see cref="ComputeAccept"/>'s value: base64 of a 20-byte SHA-1 hash.</summary>
    private const int AcceptLength = 28;

    /// <summary>RFC 9110 §5.6.2 <c>tchar</c>: the characters of a token (header names, subprotocols).</summary>
    private const string TChar = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    private static readonly SearchValues<char> TokenChars = SearchValues.Create(TChar);

    /// <summary>The same <c>tchar</c> set as bytes, for a head still in its wire form.</summary>
    private static readonly SearchValues<byte> TokenBytes = SearchValues.Create(Encoding.ASCII.GetBytes(TChar));

    /// <summary>
    /// Characters of a host name or IPv4 address as Kestrel (and Http.Sys) accept them: RFC 3986's reg-name
    /// without <c>* + , ; =</c> and percent-encoding.
    /// </summary>
    private static readonly SearchValues<char> HostChars =
        SearchValues.Create("!$&'()-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    /// <summary>What an IPv6 literal may hold between its brackets, as Kestrel checks it.</summary>
    private static readonly SearchValues<char> IPv6Chars = SearchValues.Create("0123456789ABCDEFabcdef:.");

    private static readonly HandshakeRefusal NotAnUpgrade =
        new(StatusCodes.Status426UpgradeRequired, "Upgrade Required", [("Upgrade", "websocket")]);

    private static readonly HandshakeRefusal UnsupportedVersion =
        new(StatusCodes.Status426UpgradeRequired, "Unsupported WebSocket version: use 13", [("Sec-WebSocket-Version", "13")]);

    /// <summary>
    /// Checks the whole request head of an opening handshake; null when it may be upgraded. In order:
    /// <list type="bullet">
    /// <item>HTTP/1.1 (RFC 6455 §4.2.1 item 1; this listener serves HTTP/1.1 only): else 400;</item>
    /// <item>an origin-form (or absolute http/https) request target without control characters, spaces or a fragment (RFC 9112 §3.2): else 400;</item>
    /// <item>every header name a token and every value field-content, no CR, LF, NUL or other control character but HTAB (RFC 9110 §5.1, §5.5): else 400;</item>
    /// <item>exactly one <c>Host</c> (RFC 9112 §3.2), valid by Kestrel's rules (<see cref="IsHost"/>): else 400;</item>
    /// <item>no body: neither <c>Transfer-Encoding</c> nor a <c>Content-Length</c> other than 0 (RFC 6455 §4.1 item 1): else 400;</item>
    /// <item>GET with <c>Upgrade: websocket</c> and <c>Connection: Upgrade</c> (RFC 6455 §4.2.1 items 1, 3, 4): else 426 with <c>Upgrade: websocket</c>;</item>
    /// <item>one <c>Sec-WebSocket-Version: 13</c> (§4.2.1 item 6, §4.4): else 426 with <c>Sec-WebSocket-Version: 13</c>;</item>
    /// <item>one <c>Sec-WebSocket-Key</c> that is 16 bytes in base64 (§4.2.1 item 5): else 400;</item>
    /// <item><c>Sec-WebSocket-Protocol</c>, if present, a list of tokens (§4.1, §11.3.4): else 400.</item>
    /// </list>
    /// </summary>
    public static HandshakeRefusal? Validate(UpgradeRequest request)
    {
        if (!string.Equals(request.Protocol, "HTTP/1.1", StringComparison.Ordinal))
        {
            return HandshakeRefusal.BadRequest("WebSocket upgrades need HTTP/1.1");
        }

        if (!IsRequestTarget(request.RawTarget))
        {
            return HandshakeRefusal.BadRequest("Invalid request target");
        }

        foreach (var (name, values) in request.Headers)
        {
            if (!IsToken(name))
            {
                return HandshakeRefusal.BadRequest("Invalid header name");
            }

            foreach (var value in values)
            {
                if (!IsFieldValue(value))
                {
                    return HandshakeRefusal.BadRequest("Invalid header value");
                }
            }
        }

        var host = request["Host"];
        if (host.Count != 1 || !IsHost(host[0]))
        {
            return HandshakeRefusal.BadRequest("Missing or invalid Host header");
        }

        var contentLength = request["Content-Length"];
        if (request.Has("Transfer-Encoding") || (contentLength.Count > 0 && !(contentLength.Count == 1 && contentLength[0] == "0")))
        {
            return HandshakeRefusal.BadRequest("A WebSocket upgrade request has no body");
        }

        if (!HttpMethods.IsGet(request.Method) || !HasToken(request["Upgrade"], "websocket") || !HasToken(request["Connection"], "upgrade"))
        {
            return NotAnUpgrade;
        }

        var version = request["Sec-WebSocket-Version"];
        if (version.Count != 1 || !string.Equals(version[0], "13", StringComparison.Ordinal))
        {
            return UnsupportedVersion;
        }

        var key = request["Sec-WebSocket-Key"];
        if (key.Count != 1 || !IsValidKey(key[0]!))
        {
            return HandshakeRefusal.BadRequest("Invalid Sec-WebSocket-Key");
        }

        foreach (var value in request["Sec-WebSocket-Protocol"])
        {
            foreach (var candidate in value!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                if (!IsToken(candidate))
                {
                    return HandshakeRefusal.BadRequest("Invalid Sec-WebSocket-Protocol");
                }
            }
        }

        return null;
    }

    /// <summary>
    /// The subprotocol to answer with: the first one the client offers (already validated as a token by
    /// <see cref="Validate"/>). Olares echoes the whole list, which browsers reject when more than one is
    /// offered; RFC 6455 §4.2.2 has the server select one.
    /// </summary>
    public static string? SelectSubprotocol(UpgradeRequest request)
    {
        foreach (var value in request["Sec-WebSocket-Protocol"])
        {
            foreach (var candidate in (value ?? string.Empty).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>
    /// The 101 response for the lean path, which writes straight to the connection (RFC 6455 §4.2.2): built as bytes
    /// of its exact length, one allocation per connect. <paramref name="subprotocol"/> is one of the client's offered
    /// tokens (ASCII).
    /// </summary>
    public static byte[] SwitchingProtocols(string key, string? subprotocol)
    {
        ReadOnlySpan<byte> head = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: "u8;
        ReadOnlySpan<byte> protocol = "\r\nSec-WebSocket-Protocol: "u8;
        Span<byte> accept = stackalloc byte[AcceptLength];
        WriteAccept(key, accept);
        var length = head.Length + AcceptLength + (subprotocol is null ? 0 : protocol.Length + subprotocol.Length) + 4;
        var response = new byte[length];
        var rest = response.AsSpan();
        head.CopyTo(rest);
        rest = rest[head.Length..];
        accept.CopyTo(rest);
        rest = rest[AcceptLength..];
        if (subprotocol is not null)
        {
            protocol.CopyTo(rest);
            rest = rest[protocol.Length..];
            rest = rest[Encoding.ASCII.GetBytes(subprotocol, rest)..];
        }

        "\r\n\r\n"u8.CopyTo(rest);
        return response;
    }

    /// <summary>A complete short HTTP response that closes the connection, for refusals on the lean path.</summary>
    public static byte[] PlainResponse(int status, string reason, string body, IEnumerable<(string Name, string Value)> headers)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        var response = new StringBuilder($"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {bytes.Length}\r\nConnection: close\r\n");
        foreach (var (name, value) in headers)
        {
            response.Append(name).Append(": ").Append(value).Append("\r\n");
        }

        return [.. Encoding.ASCII.GetBytes(response.Append("\r\n").ToString()), .. bytes];
    }

    /// <summary>Sends the 101 response and returns the raw duplex stream.</summary>
    public static async Task<Stream> AcceptAsync(HttpContext context, string key, string? subprotocol)
    {
        var response = context.Response;
        response.StatusCode = StatusCodes.Status101SwitchingProtocols;
        response.Headers.Connection = "Upgrade";
        response.Headers.Upgrade = "websocket";
        response.Headers.SecWebSocketAccept = ComputeAccept(key);
        if (subprotocol is not null)
        {
            response.Headers.SecWebSocketProtocol = subprotocol;
        }

        // A WebSocket lives as long as its client wants: Kestrel's body and response rate limits
        // would drop idle or slow sockets with no close frame; the gateway enforces its own limits.
        if (context.Features.Get<IHttpMinRequestBodyDataRateFeature>() is { } requestRate)
        {
            requestRate.MinDataRate = null;
        }

        if (context.Features.Get<IHttpMinResponseDataRateFeature>() is { } responseRate)
        {
            responseRate.MinDataRate = null;
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodySize)
        {
            bodySize.MaxRequestBodySize = null;
        }

        return await context.Features.Get<IHttpUpgradeFeature>()!.UpgradeAsync().ConfigureAwait(false);
    }

    /// <summary>base64(SHA-1(key + GUID)), RFC 6455 §4.2.2.</summary>
    public static string ComputeAccept(string key)
    {
        Span<byte> accept = stackalloc byte[AcceptLength];
        WriteAccept(key, accept);
        return Encoding.ASCII.GetString(accept);
    }

    /// <summary>Writes base64(SHA-1(key + GUID)) as ASCII bytes into <paramref name="destination"/> (<see cref="AcceptLength"/> bytes).</summary>
    private static void WriteAccept(string key, Span<byte> destination)
    {
        // A valid key is 24 base64 characters (RFC 6455 §4.2.1); the handshake validation refused anything else.
        var inputLength = key.Length + AcceptGuid.Length;
        Span<byte> input = inputLength <= 256 ? stackalloc byte[inputLength] : new byte[inputLength];
        Encoding.ASCII.GetBytes(key, input);
        Encoding.ASCII.GetBytes(AcceptGuid, input[key.Length..]);
        Span<byte> hash = stackalloc byte[20];
        SHA1.HashData(input, hash);
        System.Buffers.Text.Base64.EncodeToUtf8(hash, destination, out _, out _);
    }

    /// <summary>A non-empty RFC 9110 token.</summary>
    public static bool IsToken(ReadOnlySpan<char> value) => value.Length > 0 && !value.ContainsAnyExcept(TokenChars);

    /// <summary>A non-empty RFC 9110 token, as bytes off the wire.</summary>
    public static bool IsToken(ReadOnlySpan<byte> value) => value.Length > 0 && !value.ContainsAnyExcept(TokenBytes);

    /// <summary>
    /// RFC 9110 §5.5 field-content (leading and trailing whitespace already removed): visible characters,
    /// obs-text (here: any non-ASCII character, since values are decoded), SP and HTAB; never CR, LF, NUL,
    /// another control character or DEL.
    /// </summary>
    public static bool IsFieldValue(ReadOnlySpan<char> value)
    {
        foreach (var c in value)
        {
            if ((c < 0x20 && c != '\t') || c == 0x7F)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Origin-form (<c>/path?query</c>), or absolute-form with an http or https URI, which a server must also
    /// accept (RFC 9112 §3.2.2, RFC 6455 §4.1 item 2); never a control character, a space or a fragment.
    /// </summary>
    private static bool IsRequestTarget(string target)
    {
        if (!target.StartsWith('/')
            && !target.StartsWith("http://", StringComparison.OrdinalIgnoreCase)
            && !target.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        foreach (var c in target)
        {
            if (c <= 0x20 || c == 0x7F || c == '#')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// A <c>Host</c> value Kestrel accepts for an origin-form request (its <c>IsHostHeaderValid</c>), so the lean
    /// path serves no request Kestrel would answer with 400: empty (RFC 9112 §3.2 allows it), or a host name or
    /// IPv4 address of <see cref="HostChars"/>, or an IPv6 literal (<c>[</c>, hex digits, <c>:</c> and <c>.</c>,
    /// <c>]</c>, at least <c>[::1]</c>), either followed by <c>:</c> and one or more digits.
    /// </summary>
    internal static bool IsHost(string? host)
    {
        if (host is null)
        {
            return false;
        }

        if (host.Length == 0)
        {
            return true;
        }

        int end;
        if (host[0] == '[')
        {
            end = host.IndexOf(']', StringComparison.Ordinal);
            if (end < 4 || host.AsSpan(1, end - 1).ContainsAnyExcept(IPv6Chars))
            {
                return false;
            }

            end++;
        }
        else
        {
            end = host.AsSpan().IndexOfAnyExcept(HostChars);
            if (end == 0)
            {
                return false;
            }

            if (end < 0)
            {
                return true;
            }
        }

        if (end == host.Length)
        {
            return true;
        }

        // The port: ":" and at least one digit, nothing else.
        return host[end] == ':' && end + 1 < host.Length && !host.AsSpan(end + 1).ContainsAnyExceptInRange('0', '9');
    }

    private static bool IsValidKey(string key)
    {
        Span<byte> decoded = stackalloc byte[24];
        return key.Length == 24 && Convert.TryFromBase64String(key, decoded, out var written) && written == 16;
    }

    private static bool HasToken(StringValues values, string token)
    {
        foreach (var value in values)
        {
            foreach (var part in (value ?? string.Empty).Split(',', StringSplitOptions.TrimEntries))
            {
                if (string.Equals(part, token, StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
        }

        return false;
    }
}
