using System.Buffers;

namespace Gateway.Tests.WebSockets;

/// <summary>Builds a <see cref="ReadOnlySequence{T}"/> split into the given segments, as a pipe hands them out.</summary>
internal static class Segments
{
    public static ReadOnlySequence<byte> Of(params byte[][] parts)
    {
        if (parts.Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        var first = new Segment(parts[0], 0);
        var last = first;
        foreach (var part in parts.Skip(1))
        {
            last = last.Append(part);
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    /// <summary>Splits <paramref name="bytes"/> into consecutive segments of the given sizes (the rest goes in a last segment).</summary>
    public static ReadOnlySequence<byte> Split(byte[] bytes, params int[] sizes)
    {
        var parts = new List<byte[]>();
        var offset = 0;
        foreach (var size in sizes)
        {
            parts.Add(bytes[offset..(offset + size)]);
            offset += size;
        }

        if (offset < bytes.Length || parts.Count == 0)
        {
            parts.Add(bytes[offset..]);
        }

        return Of([.. parts]);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
