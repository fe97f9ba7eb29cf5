using System.Buffers.Text;

namespace Gateway.Benchmarks.Wire;

/// <summary>
/// The JSON the benchmarks send through the gateway: <c>{"s":&lt;sequence&gt;,"t":&lt;timestamp&gt;,"p":"..."}</c>,
/// where the timestamp is <see cref="System.Diagnostics.Stopwatch.GetTimestamp"/> of the sender
/// (CLOCK_MONOTONIC in nanoseconds on Linux, so comparable across processes of one machine) and the
/// optional padding brings the message to a chosen size.
/// </summary>
public static class Payload
{
    /// <summary>The largest payload <see cref="Write"/> produces without padding.</summary>
    public const int MaxUnpadded = 64;

    private static ReadOnlySpan<byte> SeqKey => "\"s\":"u8;

    private static ReadOnlySpan<byte> TimeKey => "\"t\":"u8;

    private static ReadOnlySpan<byte> PongPrefix => "{\"event\":\"pong\""u8;

    /// <summary>Writes the payload for <paramref name="sequence"/> sent at <paramref name="timestamp"/>, padded to about <paramref name="size"/> bytes; returns its length.</summary>
    public static int Write(Span<byte> destination, long sequence, long timestamp, int size = 0)
    {
        var written = 0;
        Append(destination, ref written, "{\"s\":"u8);
        Utf8Formatter.TryFormat(sequence, destination[written..], out var n);
        written += n;
        Append(destination, ref written, ",\"t\":"u8);
        Utf8Formatter.TryFormat(timestamp, destination[written..], out n);
        written += n;
        var padding = size - written - 8;
        if (padding > 0)
        {
            Append(destination, ref written, ",\"p\":\""u8);
            destination.Slice(written, padding).Fill((byte)'x');
            written += padding;
            Append(destination, ref written, "\""u8);
        }

        Append(destination, ref written, "}"u8);
        return written;
    }

    /// <summary>The buffer size <see cref="Write"/> needs for a payload of about <paramref name="size"/> bytes.</summary>
    public static int Capacity(int size) => Math.Max(size, 0) + MaxUnpadded;

    /// <summary>Reads the sequence number and timestamp of a benchmark payload; false for anything else.</summary>
    public static bool TryRead(ReadOnlySpan<byte> json, out long sequence, out long timestamp)
    {
        sequence = 0;
        timestamp = 0;
        var s = json.IndexOf(SeqKey);
        if (s < 0 || !Utf8Parser.TryParse(json[(s + SeqKey.Length)..], out sequence, out _))
        {
            return false;
        }

        var t = json.IndexOf(TimeKey);
        return t >= 0 && Utf8Parser.TryParse(json[(t + TimeKey.Length)..], out timestamp, out _);
    }

    /// <summary>True for the gateway's <c>{"event":"pong"}</c>.</summary>
    public static bool IsPong(ReadOnlySpan<byte> json) => json.StartsWith(PongPrefix);

    private static void Append(Span<byte> destination, ref int written, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(destination[written..]);
        written += bytes.Length;
    }
}
