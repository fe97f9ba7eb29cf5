using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace Gateway.WebSockets;

/// <summary>RFC 6455 opcodes.</summary>
internal enum Opcode : byte
{
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
}

/// <summary>Close codes the gateway sends (PROTOCOL.md §6) and the RFC codes it uses for protocol errors.</summary>
internal static class CloseCodes
{
    public const int Normal = 1000;
    public const int GoingAway = 1001;
    public const int ProtocolError = 1002;
    public const int NoStatus = 1005;
    public const int Abnormal = 1006;
    public const int InvalidPayload = 1007;
    public const int PolicyViolation = 1008;
    public const int MessageTooBig = 1009;
    public const int InternalError = 1011;
    public const int TryAgainLater = 1013;
    public const int PingTimeout = 4000;
    public const int SlowConsumer = 4001;

    /// <summary>
    /// Codes a peer may put on the wire: 1000-1003 and 1007-1011 (RFC 6455 §7.4.1), 1012-1014 (registered in the
    /// IANA WebSocket Close Code Number Registry: service restart, try again later, bad gateway), and 3000-4999
    /// (§7.4.2: registered and private use). Never 1004 (reserved), 1005, 1006 or 1015 (never sent), nor
    /// 0-999, 1016-2999 (unassigned or reserved for future RFCs) or 5000 and above.
    /// </summary>
    public static bool IsValidOnWire(int code) =>
        code is >= 1000 and <= 1003 or >= 1007 and <= 1014 or >= 3000 and <= 4999;
}

/// <summary>A parsed frame header.</summary>
internal readonly record struct FrameHeader(bool Fin, byte Reserved, Opcode Opcode, bool Masked, long PayloadLength, uint MaskKey, int HeaderLength)
{
    public bool IsControl => ((byte)Opcode & 0x8) != 0;
}

/// <summary>Frame encoding and decoding helpers (server side: sends unmasked, expects masked).</summary>
internal static class WebSocketFrames
{
    /// <summary>Largest header a server writes: 2 bytes + 8-byte length.</summary>
    public const int MaxServerHeaderLength = 10;

    /// <summary>Parses a header from the start of <paramref name="buffer"/>; false when more bytes are needed.</summary>
    public static bool TryReadHeader(in ReadOnlySequence<byte> buffer, out FrameHeader header)
    {
        header = default;
        if (buffer.Length < 2)
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[14];
        var available = (int)Math.Min(buffer.Length, 14);
        buffer.Slice(0, available).CopyTo(bytes);

        var first = bytes[0];
        var second = bytes[1];
        var masked = (second & 0x80) != 0;
        long length = second & 0x7F;
        var headerLength = 2;
        if (length == 126)
        {
            headerLength += 2;
        }
        else if (length == 127)
        {
            headerLength += 8;
        }

        if (masked)
        {
            headerLength += 4;
        }

        if (available < headerLength)
        {
            return false;
        }

        var offset = 2;
        if (length == 126)
        {
            length = BinaryPrimitives.ReadUInt16BigEndian(bytes[2..]);
            offset = 4;
        }
        else if (length == 127)
        {
            var raw = BinaryPrimitives.ReadUInt64BigEndian(bytes[2..]);
            length = raw > long.MaxValue ? -1 : (long)raw;
            offset = 10;
        }

        var mask = masked ? MemoryMarshal.Read<uint>(bytes[offset..]) : 0u;
        header = new FrameHeader((first & 0x80) != 0, (byte)((first >> 4) & 0x7), (Opcode)(first & 0x0F), masked, length, mask, headerLength);
        return true;
    }

    /// <summary>Writes a server (unmasked) frame header for a final frame into <paramref name="destination"/>; returns its length.</summary>
    public static int WriteHeader(Span<byte> destination, Opcode opcode, long payloadLength)
    {
        destination[0] = (byte)(0x80 | (byte)opcode);
        if (payloadLength < 126)
        {
            destination[1] = (byte)payloadLength;
            return 2;
        }

        if (payloadLength <= ushort.MaxValue)
        {
            destination[1] = 126;
            BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)payloadLength);
            return 4;
        }

        destination[1] = 127;
        BinaryPrimitives.WriteUInt64BigEndian(destination[2..], (ulong)payloadLength);
        return 10;
    }

    /// <summary>Copies <paramref name="source"/> into <paramref name="destination"/> XOR-ing it with the mask, starting at mask byte <paramref name="maskOffset"/>; returns the next offset.</summary>
    public static int UnmaskCopy(in ReadOnlySequence<byte> source, Span<byte> destination, uint maskKey, int maskOffset)
    {
        var written = 0;
        foreach (var segment in source)
        {
            var span = segment.Span;
            UnmaskCopy(span, destination.Slice(written, span.Length), maskKey, maskOffset);
            maskOffset = (maskOffset + span.Length) & 3;
            written += span.Length;
        }

        return maskOffset;
    }

    private static void UnmaskCopy(ReadOnlySpan<byte> source, Span<byte> destination, uint maskKey, int maskOffset)
    {
        // The key rotated so that byte i of the source pairs with mask byte (maskOffset + i) % 4.
        var rotated = BitConverter.IsLittleEndian
            ? (maskKey >> (8 * maskOffset)) | (maskKey << (32 - (8 * maskOffset)))
            : (maskKey << (8 * maskOffset)) | (maskKey >> (32 - (8 * maskOffset)));
        if (maskOffset == 0)
        {
            rotated = maskKey;
        }

        var wide = ((ulong)rotated << 32) | rotated;
        var i = 0;
        for (; i + 8 <= source.Length; i += 8)
        {
            var value = MemoryMarshal.Read<ulong>(source[i..]) ^ wide;
            MemoryMarshal.Write(destination[i..], in value);
        }

        Span<byte> key = stackalloc byte[4];
        MemoryMarshal.Write(key, in rotated);
        for (; i < source.Length; i++)
        {
            destination[i] = (byte)(source[i] ^ key[i & 3]);
        }
    }

    /// <summary>The payload of a close frame: the code big-endian, then the UTF-8 reason cut to fit 123 bytes.</summary>
    public static byte[] ClosePayload(int code, string? reason)
    {
        var reasonBytes = Encoding.UTF8.GetBytes(reason ?? string.Empty);
        var length = Math.Min(reasonBytes.Length, 123);
        while (length > 0 && length < reasonBytes.Length && (reasonBytes[length] & 0xC0) == 0x80)
        {
            length--; // never cut inside a UTF-8 sequence
        }

        var payload = new byte[2 + length];
        BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)code);
        reasonBytes.AsSpan(0, length).CopyTo(payload.AsSpan(2));
        return payload;
    }
}
