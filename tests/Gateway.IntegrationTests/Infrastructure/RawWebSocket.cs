using System.Buffers.Binary;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>One frame the server sent: its first byte's opcode and FIN bit, and its payload.</summary>
public sealed record RawFrame(int Opcode, bool Fin, byte[] Payload)
{
    public const int TextOpcode = 0x1;
    public const int BinaryOpcode = 0x2;
    public const int Close = 0x8;
    public const int Ping = 0x9;
    public const int Pong = 0xA;

    /// <summary>The close code of a close frame (1005 when it has none).</summary>
    public int CloseCode => Payload.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(Payload) : 1005;

    /// <summary>The payload as UTF-8 (a close frame: its reason).</summary>
    public string Text => Opcode == Close ? Encoding.UTF8.GetString(Payload.AsSpan(Math.Min(2, Payload.Length))) : Encoding.UTF8.GetString(Payload);

    public override string ToString() => Opcode == Close ? $"close {CloseCode} \"{Text}\"" : $"opcode {Opcode} fin {Fin} {Payload.Length} bytes";
}

/// <summary>How the server ended the TCP connection, as a client reading it sees it.</summary>
public enum ConnectionEnd
{
    /// <summary>An orderly end (FIN): the read returned 0.</summary>
    Graceful,

    /// <summary>A reset (RST): the read failed.</summary>
    Reset,
}

/// <summary>
/// A WebSocket client that writes exact frame bytes on a raw TCP connection (unmasked frames, reserved bits,
/// lying lengths, bad close payloads, silence) and reads the server's frames one by one, including pings a
/// library client would answer on its own.
/// </summary>
public sealed class RawWebSocket : IAsyncDisposable
{
    private readonly RawHttp _http;

    private RawWebSocket(RawHttp http, RawHttpResponse response)
    {
        _http = http;
        Response = response;
    }

    /// <summary>The 101 response.</summary>
    public RawHttpResponse Response { get; }

    /// <summary>The TCP stream.</summary>
    public NetworkStream Stream => _http.Stream;

    /// <summary>Upgrades <paramref name="path"/> on 127.0.0.1:<paramref name="port"/> with <paramref name="headers"/>; the answer must be 101.</summary>
    public static async Task<RawWebSocket> ConnectAsync(int port, string path = "/ws", params string[] headers)
    {
        var (http, response) = await RawHttp.SendAsync(port, RawHttp.UpgradeRequest(path, port, headers)).ConfigureAwait(false);
        if (response.Status != 101)
        {
            await http.DisposeAsync().ConfigureAwait(false);
            throw new InvalidOperationException($"Expected 101, got {response.StatusLine}: {response.BodyText}");
        }

        return new RawWebSocket(http, response);
    }

    /// <summary>
    /// The bytes of one client frame: <paramref name="firstByte"/> (FIN, RSV, opcode), the length of <paramref name="payload"/>
    /// (or <paramref name="declaredLength"/>, to lie), a random mask unless <paramref name="masked"/> is false, and the payload masked.
    /// </summary>
    public static byte[] Frame(byte firstByte, ReadOnlySpan<byte> payload, bool masked = true, long? declaredLength = null)
    {
        var length = declaredLength ?? payload.Length;
        var header = new List<byte> { firstByte };
        var maskBit = masked ? (byte)0x80 : (byte)0;
        if (length < 126)
        {
            header.Add((byte)(maskBit | length));
        }
        else if (length <= ushort.MaxValue)
        {
            header.Add((byte)(maskBit | 126));
            header.Add((byte)(length >> 8));
            header.Add((byte)length);
        }
        else
        {
            header.Add((byte)(maskBit | 127));
            for (var shift = 56; shift >= 0; shift -= 8)
            {
                header.Add((byte)(length >> shift));
            }
        }

        var mask = masked ? RandomNumberGenerator.GetBytes(4) : Array.Empty<byte>();
        header.AddRange(mask);
        var bytes = new byte[header.Count + payload.Length];
        header.CopyTo(bytes);
        for (var i = 0; i < payload.Length; i++)
        {
            bytes[header.Count + i] = masked ? (byte)(payload[i] ^ mask[i & 3]) : payload[i];
        }

        return bytes;
    }

    /// <summary>A masked close frame with <paramref name="code"/> and <paramref name="reason"/>.</summary>
    public static byte[] CloseFrame(int code, string reason = "")
    {
        var payload = new byte[2 + Encoding.UTF8.GetByteCount(reason)];
        BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)code);
        Encoding.UTF8.GetBytes(reason, payload.AsSpan(2));
        return Frame(0x88, payload);
    }

    /// <summary>A masked final text frame.</summary>
    public static byte[] TextFrame(string text) => Frame(0x81, Encoding.UTF8.GetBytes(text));

    /// <summary>Writes <paramref name="bytes"/> as they are.</summary>
    public async Task SendAsync(byte[] bytes)
    {
        using var cancel = new CancellationTokenSource(TestTimeouts.Default);
        await Stream.WriteAsync(bytes, cancel.Token).ConfigureAwait(false);
    }

    /// <summary>The next frame the server sends; a <see cref="TimeoutException"/> if none comes, an <see cref="IOException"/> if the connection ends.</summary>
    public async Task<RawFrame> ReadFrameAsync(TimeSpan? timeout = null)
    {
        using var cancel = new CancellationTokenSource(timeout ?? TestTimeouts.Default);
        try
        {
            var head = await ReadExactlyAsync(2, cancel.Token).ConfigureAwait(false);
            long length = head[1] & 0x7F;
            if (length == 126)
            {
                length = BinaryPrimitives.ReadUInt16BigEndian(await ReadExactlyAsync(2, cancel.Token).ConfigureAwait(false));
            }
            else if (length == 127)
            {
                length = (long)BinaryPrimitives.ReadUInt64BigEndian(await ReadExactlyAsync(8, cancel.Token).ConfigureAwait(false));
            }

            var payload = await ReadExactlyAsync((int)length, cancel.Token).ConfigureAwait(false);
            return new RawFrame(head[0] & 0x0F, (head[0] & 0x80) != 0, payload);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"No frame from the server within {timeout ?? TestTimeouts.Default}");
        }
    }

    /// <summary>Reads frames until a close frame (other frames are skipped) and returns it.</summary>
    public async Task<RawFrame> ReadUntilCloseAsync(TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TestTimeouts.Default);
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            var frame = await ReadFrameAsync(left > TimeSpan.Zero ? left : TimeSpan.FromMilliseconds(1)).ConfigureAwait(false);
            if (frame.Opcode == RawFrame.Close)
            {
                return frame;
            }
        }
    }

    /// <summary>Reads (and drops) until the server ends the TCP connection; says how it ended.</summary>
    public async Task<ConnectionEnd> ReadToEndAsync(TimeSpan? timeout = null)
    {
        using var cancel = new CancellationTokenSource(timeout ?? TestTimeouts.Default);
        var buffer = new byte[4096];
        try
        {
            while (await Stream.ReadAsync(buffer, cancel.Token).ConfigureAwait(false) > 0)
            {
            }

            return ConnectionEnd.Graceful;
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"The server did not end the connection within {timeout ?? TestTimeouts.Default}");
        }
        catch (IOException)
        {
            return ConnectionEnd.Reset;
        }
    }

    public ValueTask DisposeAsync() => _http.DisposeAsync();

    private async Task<byte[]> ReadExactlyAsync(int count, CancellationToken cancellationToken)
    {
        var bytes = new byte[count];
        await Stream.ReadExactlyAsync(bytes, cancellationToken).ConfigureAwait(false);
        return bytes;
    }
}
