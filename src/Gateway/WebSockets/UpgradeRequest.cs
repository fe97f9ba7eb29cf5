using System.Buffers;
using System.Text;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Primitives;

namespace Gateway.WebSockets;

/// <summary>
/// The parts of an HTTP upgrade request the gateway looks at, whichever way it arrived: parsed by
/// Kestrel (the HTTP path) or by <see cref="TryParse"/> straight off the connection (the lean path).
/// Header names compare case-insensitively; a repeated header keeps all its values in order.
/// </summary>
internal sealed class UpgradeRequest
{
    private const int MaxHeadBytes = 16 * 1024;
    private static readonly byte[] HeadEnd = "\r\n\r\n"u8.ToArray();

    private readonly Dictionary<string, StringValues> _headers;
    private Dictionary<string, StringValues>? _query;

    private UpgradeRequest(string method, string path, string queryString, Dictionary<string, StringValues> headers)
    {
        Method = method;
        Path = path;
        QueryString = queryString;
        _headers = headers;
    }

    public string Method { get; }

    /// <summary>The path, without the query.</summary>
    public string Path { get; }

    /// <summary>The query, with its leading <c>?</c> (or empty).</summary>
    public string QueryString { get; }

    public StringValues this[string header] => _headers.TryGetValue(header, out var values) ? values : StringValues.Empty;

    public static UpgradeRequest From(HttpContext context)
    {
        var request = context.Request;
        var headers = new Dictionary<string, StringValues>(request.Headers.Count, StringComparer.OrdinalIgnoreCase);
        foreach (var (name, values) in request.Headers)
        {
            headers[name] = values;
        }

        return new UpgradeRequest(request.Method, request.Path.Value ?? "/", request.QueryString.Value ?? string.Empty, headers);
    }

    /// <summary>
    /// Parses an HTTP/1.1 request head (request line and headers up to the blank line) from the start of
    /// <paramref name="buffer"/>. Returns false with <paramref name="needMore"/> when the head is not complete
    /// yet, and false without it when this is not a plain origin-form request this parser accepts
    /// (Kestrel then handles the connection as usual).
    /// </summary>
    public static bool TryParse(ReadOnlySequence<byte> buffer, out UpgradeRequest? request, out SequencePosition headEnd, out bool needMore)
    {
        request = null;
        headEnd = buffer.Start;
        needMore = false;
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryReadTo(out ReadOnlySequence<byte> head, HeadEnd, advancePastDelimiter: true))
        {
            needMore = buffer.Length < MaxHeadBytes;
            return false;
        }

        if (head.Length > MaxHeadBytes)
        {
            return false;
        }

        headEnd = reader.Position;
        var text = Encoding.Latin1.GetString(head);
        var lines = text.Split("\r\n");
        var requestLine = lines[0].Split(' ');
        if (requestLine.Length != 3 || requestLine[2] != "HTTP/1.1" || !requestLine[1].StartsWith('/'))
        {
            return false;
        }

        var target = requestLine[1];
        var queryStart = target.IndexOf('?', StringComparison.Ordinal);
        var path = queryStart < 0 ? target : target[..queryStart];
        if (path.Contains('%', StringComparison.Ordinal))
        {
            return false; // leave percent-decoding of paths to Kestrel
        }

        var headers = new Dictionary<string, StringValues>(lines.Length, StringComparer.OrdinalIgnoreCase);
        for (var i = 1; i < lines.Length; i++)
        {
            var line = lines[i];
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0 || line[0] is ' ' or '\t' || line.AsSpan(0, colon).ContainsAny(' ', '\t'))
            {
                return false; // folded or malformed: not ours to judge
            }

            var name = line[..colon];
            var value = line[(colon + 1)..].Trim(' ', '\t');
            headers[name] = headers.TryGetValue(name, out var existing) ? StringValues.Concat(existing, value) : new StringValues(value);
        }

        if (headers.ContainsKey("Content-Length") || headers.ContainsKey("Transfer-Encoding"))
        {
            return false;
        }

        // Header values are UTF-8 on the wire in practice (user names, cookies); Latin-1 kept the bytes.
        foreach (var name in headers.Keys.ToList())
        {
            headers[name] = new StringValues([.. headers[name].Select(static v => RecodeUtf8(v!))]);
        }

        request = new UpgradeRequest(requestLine[0], path, queryStart < 0 ? string.Empty : target[queryStart..], headers);
        return true;
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

    private static string RecodeUtf8(string latin1)
    {
        foreach (var c in latin1)
        {
            if (c > 0x7F)
            {
                var bytes = Encoding.Latin1.GetBytes(latin1);
                return System.Text.Unicode.Utf8.IsValid(bytes) ? Encoding.UTF8.GetString(bytes) : latin1;
            }
        }

        return latin1;
    }
}
