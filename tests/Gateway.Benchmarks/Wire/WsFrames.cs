using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Gateway.Benchmarks.Wire;

/// <summary>The client side of RFC 6455, as little as a load generator needs: the upgrade request and masked frames.</summary>
public static class WsFrames
{
    public const byte OpText = 0x1;
    public const byte OpClose = 0x8;
    public const byte OpPing = 0x9;
    public const byte OpPong = 0xA;

    private const string AcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

    /// <summary>The JSON ping of the TAPR dialect.</summary>
    public static ReadOnlySpan<byte> JsonPing => "{\"event\":\"ping\"}"u8;

    /// <summary>A fresh <c>Sec-WebSocket-Key</c>: 16 random bytes in base64.</summary>
    public static string NewKey()
    {
        Span<byte> key = stackalloc byte[16];
        Random.Shared.NextBytes(key);
        return Convert.ToBase64String(key);
    }

    /// <summary>The <c>Sec-WebSocket-Accept</c> a server must answer <paramref name="key"/> with.</summary>
    public static string AcceptFor(string key) =>
        Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + AcceptGuid)));

    public static byte[] UpgradeRequest(string hostAndPort, string path, string userHeader, string user, string key) =>
        Encoding.ASCII.GetBytes(
            $"GET {path} HTTP/1.1\r\nHost: {hostAndPort}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            $"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{userHeader}: {user}\r\n\r\n");

    /// <summary>Bytes a masked client frame with a payload of <paramref name="payloadLength"/> bytes takes.</summary>
    public static int MaskedFrameLength(int payloadLength) =>
        payloadLength + 4 + (payloadLength < 126 ? 2 : payloadLength <= ushort.MaxValue ? 4 : 10);

    /// <summary>Writes one final, masked frame (the payload XORed with <paramref name="mask"/>) to <paramref name="destination"/>; returns its length.</summary>
    public static int WriteMasked(Span<byte> destination, byte opcode, ReadOnlySpan<byte> payload, uint mask)
    {
        destination[0] = (byte)(0x80 | opcode);
        int offset;
        if (payload.Length < 126)
        {
            destination[1] = (byte)(0x80 | payload.Length);
            offset = 2;
        }
        else if (payload.Length <= ushort.MaxValue)
        {
            destination[1] = 0x80 | 126;
            BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)payload.Length);
            offset = 4;
        }
        else
        {
            destination[1] = 0x80 | 127;
            BinaryPrimitives.WriteUInt64BigEndian(destination[2..], (ulong)payload.Length);
            offset = 10;
        }

        BinaryPrimitives.WriteUInt32BigEndian(destination[offset..], mask);
        offset += 4;
        var maskBytes = destination.Slice(offset - 4, 4);
        var body = destination.Slice(offset, payload.Length);
        for (var i = 0; i < payload.Length; i++)
        {
            body[i] = (byte)(payload[i] ^ maskBytes[i & 3]);
        }

        return offset + payload.Length;
    }

    /// <summary>A masked close frame with <paramref name="code"/>.</summary>
    public static byte[] Close(int code, uint mask)
    {
        Span<byte> payload = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)code);
        var frame = new byte[MaskedFrameLength(2)];
        WriteMasked(frame, OpClose, payload, mask);
        return frame;
    }
}
