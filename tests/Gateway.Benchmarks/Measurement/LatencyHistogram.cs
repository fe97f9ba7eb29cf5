using System.Numerics;

namespace Gateway.Benchmarks.Measurement;

/// <summary>
/// Latencies in microseconds, counted in log-linear buckets (32 per power of two, so a percentile is
/// within about 3 % of the true value) that cost one array increment to record. Not thread-safe: each
/// thread records into its own and the report merges them.
/// </summary>
public sealed class LatencyHistogram
{
    private const int SubBuckets = 64;
    private const int Half = SubBuckets / 2;
    private const int BucketCount = SubBuckets + (58 * Half);

    private readonly long[] _counts = new long[BucketCount];

    /// <summary>Values recorded.</summary>
    public long Count { get; private set; }

    /// <summary>The largest value recorded, exact.</summary>
    public long Max { get; private set; }

    /// <summary>Sum of the values recorded, exact.</summary>
    public long Sum { get; private set; }

    public void Record(long micros)
    {
        if (micros < 0)
        {
            micros = 0;
        }

        _counts[Index(micros)]++;
        Count++;
        Sum += micros;
        if (micros > Max)
        {
            Max = micros;
        }
    }

    public void Clear()
    {
        Array.Clear(_counts);
        Count = 0;
        Max = 0;
        Sum = 0;
    }

    public void Add(LatencyHistogram other)
    {
        for (var i = 0; i < BucketCount; i++)
        {
            _counts[i] += other._counts[i];
        }

        Count += other.Count;
        Sum += other.Sum;
        Max = Math.Max(Max, other.Max);
    }

    /// <summary>The value at or below which <paramref name="percentile"/> % of the values lie (a bucket's upper bound, never above the maximum).</summary>
    public long Percentile(double percentile)
    {
        if (Count == 0)
        {
            return 0;
        }

        var rank = (long)Math.Ceiling(percentile / 100.0 * Count);
        rank = Math.Clamp(rank, 1, Count);
        long seen = 0;
        for (var i = 0; i < BucketCount; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
            {
                return Math.Min(UpperBound(i), Max);
            }
        }

        return Max;
    }

    public double Mean => Count == 0 ? 0 : (double)Sum / Count;

    /// <summary>Sparse form for the wire: index, count, index, count, ..., then count, sum, max.</summary>
    public long[] ToWire()
    {
        var wire = new List<long>();
        for (var i = 0; i < BucketCount; i++)
        {
            if (_counts[i] != 0)
            {
                wire.Add(i);
                wire.Add(_counts[i]);
            }
        }

        wire.Add(Count);
        wire.Add(Sum);
        wire.Add(Max);
        return [.. wire];
    }

    public static LatencyHistogram FromWire(long[]? wire)
    {
        var histogram = new LatencyHistogram();
        if (wire is null || wire.Length < 3)
        {
            return histogram;
        }

        for (var i = 0; i + 1 < wire.Length - 3; i += 2)
        {
            histogram._counts[wire[i]] += wire[i + 1];
        }

        histogram.Count = wire[^3];
        histogram.Sum = wire[^2];
        histogram.Max = wire[^1];
        return histogram;
    }

    private static int Index(long value)
    {
        if (value < SubBuckets)
        {
            return (int)value;
        }

        var msb = 63 - BitOperations.LeadingZeroCount((ulong)value);
        var shift = msb - 5;
        var mantissa = (int)(value >> shift);
        var index = SubBuckets + ((shift - 1) * Half) + (mantissa - Half);
        return Math.Min(index, BucketCount - 1);
    }

    private static long UpperBound(int index)
    {
        if (index < SubBuckets)
        {
            return index;
        }

        var shift = ((index - SubBuckets) / Half) + 1;
        var mantissa = ((index - SubBuckets) % Half) + Half;
        return ((long)(mantissa + 1) << shift) - 1;
    }
}
