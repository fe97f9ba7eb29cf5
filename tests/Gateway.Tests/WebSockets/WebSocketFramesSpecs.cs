using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Gateway.WebSockets;

namespace Gateway.Tests.WebSockets;

public sealed class WebSocketFramesSpecs
{
    private static readonly byte[] MaskKey = [0x37, 0xFA, 0x21, 0x3D];

    [Fact]
    public void A_masked_text_frame_with_a_7_bit_length_is_read_and_unmasked()
    {
        // RFC 6455 §5.7: a masked "Hello".
        byte[] frame = [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58];

        Assert.True(WebSocketFrames.TryReadHeader(new ReadOnlySequence<byte>(frame), out var header));

        Assert.True(header.Fin);
        Assert.Equal(0, header.Reserved);
        Assert.Equal(Opcode.Text, header.Opcode);
        Assert.True(header.Masked);
        Assert.Equal(5, header.PayloadLength);
        Assert.Equal(6, header.HeaderLength);
        Assert.False(header.IsControl);
        var payload = new byte[5];
        var next = WebSocketFrames.UnmaskCopy(new ReadOnlySequence<byte>(frame, 6, 5), payload, header.MaskKey, 0);
        Assert.Equal("Hello", Encoding.UTF8.GetString(payload));
        Assert.Equal(1, next);
    }

    [Fact]
    public void An_unmasked_frame_has_a_two_byte_header()
    {
        byte[] frame = [0x01, 0x03, (byte)'a', (byte)'b', (byte)'c'];

        Assert.True(WebSocketFrames.TryReadHeader(new ReadOnlySequence<byte>(frame), out var header));

        Assert.Equal(new FrameHeader(false, 0, Opcode.Text, false, 3, 0, 2), header);
    }

    [Fact]
    public void A_16_bit_length_is_read_big_endian()
    {
        byte[] frame = [0x82, 0xFE, 0x01, 0x02, .. MaskKey];

        Assert.True(WebSocketFrames.TryReadHeader(new ReadOnlySequence<byte>(frame), out var header));

        Assert.Equal(Opcode.Binary, header.Opcode);
        Assert.Equal(0x0102, header.PayloadLength);
        Assert.Equal(8, header.HeaderLength);
        Assert.True(header.Masked);
    }

    [Fact]
    public void A_64_bit_length_is_read_big_endian()
    {
        byte[] frame = [0x82, 0xFF, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, .. MaskKey];

        Assert.True(WebSocketFrames.TryReadHeader(new ReadOnlySequence<byte>(frame), out var header));

        Assert.Equal(0x0102030405L, header.PayloadLength);
        Assert.Equal(14, header.HeaderLength);
    }

    [Fact]
    public void A_64_bit_length_with_the_top_bit_set_is_reported_as_negative()
    {
        byte[] frame = [0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0];

        Assert.True(WebSocketFrames.TryReadHeader(new ReadOnlySequence<byte>(frame), out var header));

        Assert.Equal(-1, header.PayloadLength);
        Assert.False(header.Masked);
        Assert.Equal(10, header.HeaderLength);
    }

    [Fact]
    public void Reserved_bits_and_control_opcodes_are_reported()
    {
        byte[] frame = [0xF9, 0x80, .. MaskKey];

        Assert.True(WebSocketFrames.TryReadHeader(new ReadOnlySequence<byte>(frame), out var header));

        Assert.Equal(7, header.Reserved);
        Assert.Equal(Opcode.Ping, header.Opcode);
        Assert.True(header.IsControl);
        Assert.Equal(0, header.PayloadLength);
    }

    [Theory]
    [InlineData(new byte[] { })]
    [InlineData(new byte[] { 0x81 })]
    [InlineData(new byte[] { 0x81, 0x85, 0x37, 0xFA, 0x21 })]
    [InlineData(new byte[] { 0x81, 0xFE, 0x01 })]
    [InlineData(new byte[] { 0x81, 0x7E, 0x01 })]
    [InlineData(new byte[] { 0x81, 0x7F, 0, 0, 0, 0, 0, 0, 1 })]
    [InlineData(new byte[] { 0x81, 0xFF, 0, 0, 0, 0, 0, 0, 1, 0, 0x37, 0xFA, 0x21 })]
    public void An_incomplete_header_asks_for_more_bytes(byte[] bytes)
    {
        Assert.False(WebSocketFrames.TryReadHeader(new ReadOnlySequence<byte>(bytes), out _));
    }

    [Fact]
    public void A_header_split_across_segments_is_read_whole()
    {
        byte[] frame = [0x82, 0xFF, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, .. MaskKey, 0xAA];

        Assert.True(WebSocketFrames.TryReadHeader(Segments.Split(frame, 1, 3, 5, 2), out var header));

        Assert.Equal(65536, header.PayloadLength);
        Assert.Equal(14, header.HeaderLength);
        Assert.Equal(BitConverter.ToUInt32(MaskKey), header.MaskKey);
    }

    [Theory]
    [InlineData(0, 2)]
    [InlineData(125, 2)]
    [InlineData(126, 4)]
    [InlineData(65535, 4)]
    [InlineData(65536, 10)]
    [InlineData(5_000_000_000, 10)]
    public void A_written_header_reads_back_the_same(long length, int expectedLength)
    {
        var buffer = new byte[WebSocketFrames.MaxServerHeaderLength];

        var written = WebSocketFrames.WriteHeader(buffer, Opcode.Binary, length);

        Assert.Equal(expectedLength, written);
        Assert.True(WebSocketFrames.TryReadHeader(new ReadOnlySequence<byte>(buffer, 0, written), out var header));
        Assert.Equal(new FrameHeader(true, 0, Opcode.Binary, false, length, 0, written), header);
    }

    [Fact]
    public void A_126_byte_payload_uses_the_16_bit_form()
    {
        var buffer = new byte[WebSocketFrames.MaxServerHeaderLength];

        var written = WebSocketFrames.WriteHeader(buffer, Opcode.Text, 126);

        Assert.Equal(new byte[] { 0x81, 126, 0, 126 }, buffer[..written]);
    }

    [Theory]
    [InlineData(new[] { 200 })]
    [InlineData(new[] { 1, 1, 1, 1, 1, 195 })]
    [InlineData(new[] { 3, 5, 7, 8, 9, 16, 17, 31, 104 })]
    [InlineData(new[] { 8, 8, 8, 176 })]
    [InlineData(new[] { 2, 198 })]
    public void Unmasking_is_the_same_however_the_payload_is_split(int[] sizes)
    {
        var plain = new byte[200];
        new Random(sizes.Length).NextBytes(plain);
        var masked = plain.Select((b, i) => (byte)(b ^ MaskKey[i % 4])).ToArray();
        var key = BinaryPrimitives.ReadUInt32LittleEndian(MaskKey);
        if (!BitConverter.IsLittleEndian)
        {
            key = BinaryPrimitives.ReverseEndianness(key);
        }

        // One sequence made of the segments...
        var whole = new byte[200];
        Assert.Equal(0, WebSocketFrames.UnmaskCopy(Segments.Split(masked, sizes), whole, key, 0));
        Assert.Equal(plain, whole);

        // ...or each segment on its own, carrying the returned mask offset to the next.
        var pieces = new byte[200];
        var offset = 0;
        var maskOffset = 0;
        foreach (var size in sizes)
        {
            maskOffset = WebSocketFrames.UnmaskCopy(new ReadOnlySequence<byte>(masked, offset, size), pieces.AsSpan(offset, size), key, maskOffset);
            offset += size;
            Assert.Equal(offset % 4, maskOffset);
        }

        Assert.Equal(plain, pieces);
    }

    [Fact]
    public void A_close_payload_is_the_code_big_endian_then_the_reason()
    {
        Assert.Equal(new byte[] { 0x03, 0xE8, (byte)'b', (byte)'y', (byte)'e' }, WebSocketFrames.ClosePayload(1000, "bye"));
        Assert.Equal(new byte[] { 0x0F, 0xA0 }, WebSocketFrames.ClosePayload(4000, null));
        Assert.Equal(new byte[] { 0x0F, 0xA1 }, WebSocketFrames.ClosePayload(4001, string.Empty));
    }

    [Theory]
    [InlineData(123, 0, 123)]
    [InlineData(124, 0, 123)]
    [InlineData(500, 0, 123)]
    [InlineData(121, 2, 123)] // "é" (2 bytes) ends exactly at 123
    [InlineData(122, 2, 122)] // "é" would straddle the limit: dropped whole
    [InlineData(121, 3, 121)] // "€" (3 bytes) would straddle
    [InlineData(120, 3, 123)]
    [InlineData(122, 4, 122)] // "😀" (4 bytes) would straddle
    [InlineData(119, 4, 123)]
    public void A_close_reason_is_cut_to_123_bytes_on_a_utf8_boundary(int asciiPrefix, int tailCharBytes, int expectedReasonBytes)
    {
        var tail = tailCharBytes switch
        {
            2 => "é",
            3 => "€",
            4 => "😀",
            _ => string.Empty,
        };
        var reason = new string('a', asciiPrefix) + tail + "zzz";
        if (tailCharBytes == 0)
        {
            reason = new string('a', asciiPrefix);
        }

        var payload = WebSocketFrames.ClosePayload(4000, reason);

        Assert.Equal(2 + expectedReasonBytes, payload.Length);
        Assert.True(payload.Length <= 125);
        var text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(payload, 2, payload.Length - 2);
        Assert.StartsWith(text, reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1000, true)]
    [InlineData(1003, true)]
    [InlineData(1004, false)]
    [InlineData(1005, false)]
    [InlineData(1006, false)]
    [InlineData(1007, true)]
    [InlineData(1011, true)]
    [InlineData(1012, true)]
    [InlineData(1013, true)]
    [InlineData(1014, true)]
    [InlineData(1015, false)]
    [InlineData(1016, false)]
    [InlineData(2999, false)]
    [InlineData(3000, true)]
    [InlineData(4999, true)]
    [InlineData(5000, false)]
    public void Only_rfc_and_iana_registered_codes_are_valid_on_the_wire(int code, bool valid)
    {
        Assert.Equal(valid, CloseCodes.IsValidOnWire(code));
    }
}
