using System.Buffers;
using System.Text;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Primitives;

namespace Gateway.WebSockets;

/// <summary>
/// Kestrel's bounds on a request head (<c>KestrelServerOptions.Limits</c>), which the lean path must not exceed:
/// a head it serves is one Kestrel would have parsed too.
/// </summary>
/// <param name="MaxRequestLineBytes">Kestrel's <c>MaxRequestLineSize</c> (default 8,192), counting the CRLF.</param>
/// <param name="MaxHeadersBytes">Kestrel's <c>MaxRequestHeadersTotalSize</c> (default 32,768).</param>
/// <param name="MaxHeaderCount">Kestrel's <c>MaxRequestHeaderCount</c> (default 100).</param>
internal readonly record struct HeadLimits(int MaxRequestLineBytes, int MaxHeadersBytes, int MaxHeaderCount)
{
    /// <summary>Kestrel's defaults.</summary>
    public static HeadLimits KestrelDefaults { get; } = new(8 * 1024, 32 * 1024, 100);

    /// <summary>The limits of the given Kestrel options.</summary>
    public static HeadLimits From(Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerLimits limits) =>
        new(limits.MaxRequestLineSize, limits.MaxRequestHeadersTotalSize, limits.MaxRequestHeaderCount);

    /// <summary>
    /// Whether a head is well inside every limit: a request line (without its CRLF) and headers (in bytes, and in
    /// number) that Kestrel accepts. Within 64 bytes of a byte limit Kestrel decides, so that no off-by-one in how
    /// it counts can make the lean path serve a head Kestrel refuses.
    /// </summary>
    public bool Admits(int requestLineBytes, int headerBytes, int headerCount) =>
        requestLineBytes + 2 < MaxRequestLineBytes - 64 && headerBytes < MaxHeadersBytes - 64 && headerCount <= MaxHeaderCount;
}

/// <summary>
/// The parts of an HTTP upgrade request the gateway looks at, whichever way it arrived: parsed by
/// Kestrel (the HTTP path) or by <see cref="TryParse"/> straight off the connection (the lean path).
/// Header names compare case-insensitively; a repeated header keeps all its values in order.
/// </summary>
internal sealed class UpgradeRequest
{
    /// <summary>The longest head the lean path parses; a longer one goes to Kestrel's HTTP stack.</summary>
    internal const int MaxHeadBytes = 16 * 1024;

    private static readonly byte[] HeadEnd = "\r\n\r\n"u8.ToArray();

    private static ReadOnlySpan<byte> Crlf => "\r\n"u8;

    /// <summary>Header names as browsers and the usual WebSocket clients spell them, kept as one string each.</summary>
    private static readonly string[] KnownHeaderNames =
    [
        "Host", "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions",
        "Sec-WebSocket-Protocol", "Origin", "User-Agent", "Cookie", "Pragma", "Cache-Control", "Accept-Encoding",
        "Accept-Language", "X-Bfl-User", "Authorization",
    ];

    private readonly Dictionary<string, StringValues> _headers;
    private Dictionary<string, StringValues>? _query;

    private UpgradeRequest(string method, string rawTarget, string protocol, string path, string queryString, Dictionary<string, StringValues> headers)
    {
        Method = method;
        RawTarget = rawTarget;
        Protocol = protocol;
        Path = path;
        QueryString = queryString;
        _headers = headers;
    }

    public string Method { get; }

    /// <summary>The request target as sent (path and query, undecoded).</summary>
    public string RawTarget { get; }

    /// <summary>The HTTP version of the request line, e.g. <c>HTTP/1.1</c>.</summary>
    public string Protocol { get; }

    /// <summary>The path, without the query.</summary>
    public string Path { get; }

    /// <summary>The query, with its leading <c>?</c> (or empty).</summary>
    public string QueryString { get; }

    /// <summary>Every header, by name (case-insensitive), with all its values in order.</summary>
    public IReadOnlyDictionary<string, StringValues> Headers => _headers;

    public StringValues this[string header] => _headers.TryGetValue(header, out var values) ? values : StringValues.Empty;

    public static UpgradeRequest From(HttpContext context)
    {
        var request = context.Request;
        var headers = new Dictionary<string, StringValues>(request.Headers.Count, StringComparer.OrdinalIgnoreCase);
        foreach (var (name, values) in request.Headers)
        {
            headers[name] = values;
        }

        var path = request.Path.Value ?? "/";
        var query = request.QueryString.Value ?? string.Empty;
        var rawTarget = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget ?? path + query;
        return new UpgradeRequest(request.Method, rawTarget, request.Protocol, path, query, headers);
    }

    /// <summary>
    /// Parses an HTTP/1.1 request head (request line and headers up to the blank line) from the start of
    /// <paramref name="buffer"/>. Returns false with <paramref name="needMore"/> when the head is not complete
    /// yet, and false without it when this is not a request this parser represents exactly: anything
    /// malformed (a bare CR or LF, another control character, a folded line, whitespace before a colon, a
    /// name that is not a token, a request line that is not <c>METHOD SP /target SP HTTP/1.1</c>), a
    /// percent-encoded or non-ASCII path, or a head at or near one of Kestrel's <paramref name="limits"/> (a
    /// request line that Kestrel would answer with 414, headers it would answer with 431). Kestrel's HTTP stack
    /// then parses the connection as usual, and the same <see cref="WebSocketHandshake.Validate"/> judges the
    /// request there, so both paths answer alike (RFC 9112 §2.2, §3, §5).
    /// </summary>
    public static bool TryParse(ReadOnlySequence<byte> buffer, HeadLimits limits, out UpgradeRequest? request, out SequencePosition headEnd, out bool needMore)
    {
        request = null;
        headEnd = buffer.Start;
        needMore = false;
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryReadTo(out ReadOnlySequence<byte> head, HeadEnd, advancePastDelimiter: true))
        {
            // A malformed byte already seen decides now; no need to wait for a head that never ends well.
            needMore = buffer.Length < MaxHeadBytes && IsCleanSoFar(buffer);
            return false;
        }

        if (head.Length > MaxHeadBytes)
        {
            return false;
        }

        headEnd = reader.Position;

        // Parsed as bytes: a string is made only of what the request keeps (the target, header values, names other
        // than the usual ones). A head in more than one segment is rare (it arrived in pieces) and is copied.
        var bytes = head.IsSingleSegment ? head.FirstSpan : head.ToArray();
        if (!IsClean(bytes))
        {
            return false;
        }

        // A header line per CRLF (the head has no blank line, and every LF is a CRLF's, per IsClean).
        var headerCount = bytes.Count((byte)'\n');
        var lines = bytes.Split(Crlf);
        lines.MoveNext();
        var requestLine = bytes[lines.Current];
        if (!limits.Admits(requestLine.Length, bytes.Length - requestLine.Length, headerCount))
        {
            return false; // Kestrel's to refuse (414, 431) or to serve when just under its limits
        }

        // METHOD SP request-target SP HTTP/1.1, with exactly two spaces.
        var firstSpace = requestLine.IndexOf((byte)' ');
        var afterMethod = requestLine[(firstSpace + 1)..];
        var secondSpace = afterMethod.IndexOf((byte)' ');
        if (firstSpace < 0 || secondSpace < 0)
        {
            return false;
        }

        var method = requestLine[..firstSpace];
        var targetBytes = afterMethod[..secondSpace];
        if (!afterMethod[(secondSpace + 1)..].SequenceEqual("HTTP/1.1"u8) || !WebSocketHandshake.IsToken(method)
            || targetBytes is not [(byte)'/', ..] || targetBytes.IndexOfAnyInRange((byte)0x80, (byte)0xFF) >= 0 || targetBytes.Contains((byte)'#'))
        {
            return false;
        }

        var queryStart = targetBytes.IndexOf((byte)'?');
        if ((queryStart < 0 ? targetBytes : targetBytes[..queryStart]).Contains((byte)'%'))
        {
            return false; // leave percent-decoding of paths to Kestrel
        }

        var target = Encoding.ASCII.GetString(targetBytes);
        var headers = new Dictionary<string, StringValues>(headerCount, StringComparer.OrdinalIgnoreCase);
        foreach (var range in lines)
        {
            var line = bytes[range];
            var colon = line.IndexOf((byte)':');
            if (colon <= 0 || !WebSocketHandshake.IsToken(line[..colon]))
            {
                return false; // folded, whitespace before the colon, or not a token: Kestrel's to refuse
            }

            var name = HeaderName(line[..colon]);
            var value = HeaderValue(line[(colon + 1)..].Trim(" \t"u8));
            headers[name] = headers.TryGetValue(name, out var existing) ? StringValues.Concat(existing, value) : new StringValues(value);
        }

        request = new UpgradeRequest(method.SequenceEqual("GET"u8) ? "GET" : Encoding.ASCII.GetString(method), target, "HTTP/1.1",
            queryStart < 0 ? target : target[..queryStart], queryStart < 0 ? string.Empty : target[queryStart..], headers);
        return true;
    }

    /// <summary>A header name as sent; the names every WebSocket client sends come from a table instead of a new string.</summary>
    private static string HeaderName(ReadOnlySpan<byte> name)
    {
        foreach (var known in KnownHeaderNames)
        {
            if (name.Length == known.Length && Ascii.Equals(name, known))
            {
                return known;
            }
        }

        return Encoding.ASCII.GetString(name); // a token: ASCII
    }

    /// <summary>
    /// A header value decoded as UTF-8 (user names and cookies arrive so), a byte sequence that is not UTF-8 as U+FFFD:
    /// what Kestrel's HTTP path gives with the gateway's <c>RequestHeaderEncodingSelector</c>, so both paths agree.
    /// </summary>
    private static string HeaderValue(ReadOnlySpan<byte> value) => Encoding.UTF8.GetString(value);

    /// <summary>No control character but HTAB, and CR only in CRLF pairs (so LF only in them too): RFC 9112 §2.2.</summary>
    private static bool IsClean(ReadOnlySpan<byte> head)
    {
        for (var i = 0; i < head.Length; i++)
        {
            var b = head[i];
            if (b == '\r')
            {
                if (i + 1 >= head.Length || head[i + 1] != '\n')
                {
                    return false;
                }

                i++; // the LF of this CRLF
            }
            else if ((b < 0x20 && b != '\t') || b == 0x7F)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Whether the incomplete head seen so far is still free of malformed bytes (a trailing CR may yet get its LF).</summary>
    private static bool IsCleanSoFar(ReadOnlySequence<byte> buffer)
    {
        var bytes = buffer.Length > MaxHeadBytes ? buffer.Slice(0, MaxHeadBytes).ToArray() : buffer.ToArray();
        var length = bytes.Length > 0 && bytes[^1] == '\r' ? bytes.Length - 1 : bytes.Length;
        return IsClean(bytes.AsSpan(0, length));
    }

    /// <summary>The last value of a header, as Olares's header map keeps it; "" when absent.</summary>
    public string Last(string header)
    {
        var values = this[header];
        return values.Count == 0 ? string.Empty : values[^1] ?? string.Empty;
    }

    public bool Has(string header) => _headers.ContainsKey(header);

    /// <summary>All Cookie headers, joined as one.</summary>
    public string CookieHeader => string.Join("; ", this["Cookie"].Where(static c => !string.IsNullOrEmpty(c)));

    /// <summary>The value of the named cookie, or null.</summary>
    public string? Cookie(string name)
    {
        string? found = null;
        foreach (var header in this["Cookie"])
        {
            foreach (var pair in (header ?? string.Empty).Split(';'))
            {
                var equals = pair.IndexOf('=', StringComparison.Ordinal);
                if (equals > 0 && pair.AsSpan(0, equals).Trim().SequenceEqual(name))
                {
                    found ??= pair[(equals + 1)..].Trim();
                }
            }
        }

        return found;
    }

    /// <summary>The first value of a query parameter, URL-decoded; "" when absent.</summary>
    public string Query(string name)
    {
        _query ??= QueryHelpers.ParseQuery(QueryString);
        return _query.TryGetValue(name, out var values) && values.Count > 0 ? values[0] ?? string.Empty : string.Empty;
    }
}
