using System.Net.Sockets;
using System.Text;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>An HTTP response read off the wire: status line, every header line as sent, and the body read so far.</summary>
public sealed record RawHttpResponse(int Status, string StatusLine, IReadOnlyList<KeyValuePair<string, string>> Headers, byte[] Body)
{
    /// <summary>Every value of header <paramref name="name"/>, one per header line.</summary>
    public IReadOnlyList<string> HeaderValues(string name) =>
        Headers.Where(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value).ToList();

    public string BodyText => Encoding.UTF8.GetString(Body);
}

/// <summary>
/// Writes an exact HTTP/1.1 request on a TCP socket and parses the response head: for handshakes
/// whose headers a WebSocket client library would hide or refuse (several subprotocols, no
/// User-Agent, odd header bytes). After a 101 the socket stays open in <see cref="Stream"/>.
/// </summary>
public sealed class RawHttp : IAsyncDisposable
{
    private readonly TcpClient _tcp;

    private RawHttp(TcpClient tcp)
    {
        _tcp = tcp;
    }

    /// <summary>The connection, positioned after the response head.</summary>
    public NetworkStream Stream => _tcp.GetStream();

    /// <summary>A random, valid <c>Sec-WebSocket-Key</c>.</summary>
    public static string NewWebSocketKey() => Convert.ToBase64String(Guid.NewGuid().ToByteArray());

    /// <summary>
    /// A WebSocket upgrade request for <paramref name="path"/> with the given extra header lines
    /// (e.g. <c>"Sec-WebSocket-Protocol: a, b"</c>), no User-Agent unless one is among them.
    /// </summary>
    public static string UpgradeRequest(string path, int port, params string[] extraHeaders)
    {
        var builder = new StringBuilder();
        builder.Append("GET ").Append(path).Append(" HTTP/1.1\r\n");
        builder.Append("Host: 127.0.0.1:").Append(port).Append("\r\n");
        builder.Append("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n");
        builder.Append("Sec-WebSocket-Key: ").Append(NewWebSocketKey()).Append("\r\n");
        foreach (var header in extraHeaders)
        {
            builder.Append(header).Append("\r\n");
        }

        builder.Append("\r\n");
        return builder.ToString();
    }

    /// <summary>Connects to 127.0.0.1:<paramref name="port"/>, writes <paramref name="request"/> (each char one byte, Latin-1), and reads the response head (and, unless it is a 101, the body).</summary>
    public static Task<(RawHttp Connection, RawHttpResponse Response)> SendAsync(int port, string request, TimeSpan? timeout = null) =>
        SendAsync(port, Encoding.Latin1.GetBytes(request), timeout);

    /// <summary>Connects to 127.0.0.1:<paramref name="port"/>, writes <paramref name="request"/> byte for byte, and reads the response head (and, unless it is a 101, the body).</summary>
    public static async Task<(RawHttp Connection, RawHttpResponse Response)> SendAsync(int port, byte[] request, TimeSpan? timeout = null)
    {
        var tcp = new TcpClient { NoDelay = true };
        var connection = new RawHttp(tcp);
        using var cancel = new CancellationTokenSource(timeout ?? TestTimeouts.Default);
        try
        {
            await tcp.ConnectAsync("127.0.0.1", port, cancel.Token).ConfigureAwait(false);
            await connection.Stream.WriteAsync(request, cancel.Token).ConfigureAwait(false);
            var response = await connection.ReadResponseAsync(cancel.Token).ConfigureAwait(false);
            return (connection, response);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Connects to 127.0.0.1:<paramref name="port"/> without writing anything: for a request written in parts.</summary>
    public static async Task<RawHttp> ConnectAsync(int port)
    {
        var tcp = new TcpClient { NoDelay = true };
        using var cancel = new CancellationTokenSource(TestTimeouts.Default);
        try
        {
            await tcp.ConnectAsync("127.0.0.1", port, cancel.Token).ConfigureAwait(false);
            return new RawHttp(tcp);
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
    }

    /// <summary>Writes <paramref name="part"/> (each char one byte, Latin-1) and sends it at once.</summary>
    public async Task WriteAsync(string part)
    {
        using var cancel = new CancellationTokenSource(TestTimeouts.Default);
        await Stream.WriteAsync(Encoding.Latin1.GetBytes(part), cancel.Token).ConfigureAwait(false);
    }

    /// <summary>Reads the response head (and, unless it is a 101, the body).</summary>
    public async Task<RawHttpResponse> ReadResponseAsync()
    {
        using var cancel = new CancellationTokenSource(TestTimeouts.Default);
        return await ReadResponseAsync(cancel.Token).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        return ValueTask.CompletedTask;
    }

    private async Task<RawHttpResponse> ReadResponseAsync(CancellationToken cancellationToken)
    {
        var head = new List<byte>();
        var one = new byte[1];

        // Byte by byte up to the blank line, so nothing after the head (WebSocket frames) is consumed.
        while (head.Count < 4 || !(head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n'))
        {
            if (await Stream.ReadAsync(one, cancellationToken).ConfigureAwait(false) == 0)
            {
                throw new IOException($"Connection closed inside the response head: {Encoding.Latin1.GetString([.. head])}");
            }

            head.Add(one[0]);
        }

        var lines = Encoding.Latin1.GetString([.. head]).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var status = int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var headers = lines.Skip(1)
            .Select(line => line.Split(':', 2))
            .Select(parts => new KeyValuePair<string, string>(parts[0].Trim(), parts.Length > 1 ? parts[1].Trim() : string.Empty))
            .ToList();
        var body = status == 101 ? [] : await ReadBodyAsync(headers, cancellationToken).ConfigureAwait(false);
        return new RawHttpResponse(status, lines[0], headers, body);
    }

    private async Task<byte[]> ReadBodyAsync(List<KeyValuePair<string, string>> headers, CancellationToken cancellationToken)
    {
        var length = headers.FirstOrDefault(h => string.Equals(h.Key, "Content-Length", StringComparison.OrdinalIgnoreCase)).Value;
        if (length is not null)
        {
            var body = new byte[int.Parse(length, System.Globalization.CultureInfo.InvariantCulture)];
            await Stream.ReadExactlyAsync(body, cancellationToken).ConfigureAwait(false);
            return body;
        }

        if (headers.Any(h => string.Equals(h.Key, "Transfer-Encoding", StringComparison.OrdinalIgnoreCase) && h.Value.Contains("chunked", StringComparison.OrdinalIgnoreCase)))
        {
            using var body = new MemoryStream();
            while (true)
            {
                var sizeLine = await ReadLineAsync(cancellationToken).ConfigureAwait(false);
                var size = Convert.ToInt32(sizeLine.Split(';')[0], 16);
                if (size == 0)
                {
                    await ReadLineAsync(cancellationToken).ConfigureAwait(false);
                    return body.ToArray();
                }

                var chunk = new byte[size];
                await Stream.ReadExactlyAsync(chunk, cancellationToken).ConfigureAwait(false);
                body.Write(chunk);
                await ReadLineAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        return [];
    }

    private async Task<string> ReadLineAsync(CancellationToken cancellationToken)
    {
        var line = new List<byte>();
        var one = new byte[1];
        while (line.Count < 2 || !(line[^2] == '\r' && line[^1] == '\n'))
        {
            if (await Stream.ReadAsync(one, cancellationToken).ConfigureAwait(false) == 0)
            {
                throw new IOException("Connection closed inside a chunked body");
            }

            line.Add(one[0]);
        }

        return Encoding.Latin1.GetString([.. line])[..^2];
    }
}
