using System.Diagnostics;
using System.Globalization;

namespace Gateway.Benchmarks.Measurement;

/// <summary>CPU time and memory of a process, read from <c>/proc/&lt;pid&gt;</c> (Linux).</summary>
public static class ProcessStats
{
    /// <summary>Kernel clock ticks per second in <c>/proc/&lt;pid&gt;/stat</c> (USER_HZ, 100 on every Linux ABI .NET runs on).</summary>
    private const double TicksPerSecond = 100.0;

    /// <summary>utime + stime in seconds, or null when the process is gone.</summary>
    public static double? CpuSeconds(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");

            // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var utime = long.Parse(fields[11], CultureInfo.InvariantCulture);
            var stime = long.Parse(fields[12], CultureInfo.InvariantCulture);
            return (utime + stime) / TicksPerSecond;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>VmRSS in bytes, or null when the process is gone.</summary>
    public static long? RssBytes(int pid) => StatusKilobytes(pid, "VmRSS:") * 1024;

    /// <summary>VmHWM (peak resident set) in bytes, or null when the process is gone.</summary>
    public static long? PeakRssBytes(int pid) => StatusKilobytes(pid, "VmHWM:") * 1024;

    /// <summary>The soft limit on open files of this process.</summary>
    public static long OpenFileLimit()
    {
        foreach (var line in File.ReadLines("/proc/self/limits"))
        {
            if (line.StartsWith("Max open files", StringComparison.Ordinal))
            {
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return parts[3] == "unlimited" ? long.MaxValue : long.Parse(parts[3], CultureInfo.InvariantCulture);
            }
        }

        return 1024;
    }

    private static long? StatusKilobytes(int pid, string key)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith(key, StringComparison.Ordinal))
                {
                    return long.Parse(line[key.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
                }
            }
        }
        catch (IOException)
        {
        }

        return null;
    }
}

/// <summary>CPU seconds of a set of named processes at one moment, to turn two of them into cores used.</summary>
public sealed class CpuSnapshot
{
    private readonly Dictionary<string, double> _seconds = [];

    private CpuSnapshot(long timestamp) => Timestamp = timestamp;

    public long Timestamp { get; }

    public static CpuSnapshot Take(IEnumerable<(string Name, int Pid)> processes)
    {
        var snapshot = new CpuSnapshot(Stopwatch.GetTimestamp());
        foreach (var (name, pid) in processes)
        {
            if (ProcessStats.CpuSeconds(pid) is { } seconds)
            {
                snapshot._seconds[name] = seconds;
            }
        }

        return snapshot;
    }

    /// <summary>CPU seconds (user and system) of the process named <paramref name="name"/> at this moment; 0 when it was not read.</summary>
    public double SecondsOf(string name) => _seconds.GetValueOrDefault(name);

    /// <summary>Cores used by each process between <paramref name="start"/> and this snapshot (CPU seconds over wall seconds), in the order of <paramref name="start"/>.</summary>
    public IReadOnlyList<(string Name, double Cores)> CoresSince(CpuSnapshot start)
    {
        var wall = Stopwatch.GetElapsedTime(start.Timestamp, Timestamp).TotalSeconds;
        var result = new List<(string, double)>();
        foreach (var (name, before) in start._seconds)
        {
            if (_seconds.TryGetValue(name, out var after) && wall > 0)
            {
                result.Add((name, Math.Round((after - before) / wall, 3)));
            }
        }

        return result;
    }
}

/// <summary>Samples a process's VmRSS every <c>interval</c> in the background and keeps the peak.</summary>
public sealed class RssSampler : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private long _peak;
    private long _samples;

    public RssSampler(int pid, TimeSpan interval) => _loop = Task.Run(async () =>
    {
        using var timer = new PeriodicTimer(interval);
        do
        {
            if (ProcessStats.RssBytes(pid) is { } rss)
            {
                Interlocked.Exchange(ref _peak, Math.Max(Interlocked.Read(ref _peak), rss));
                Interlocked.Increment(ref _samples);
            }
        }
        while (await SafeTick(timer).ConfigureAwait(false));
    });

    public long Peak => Interlocked.Read(ref _peak);

    public long Samples => Interlocked.Read(ref _samples);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task<bool> SafeTick(PeriodicTimer timer)
    {
        try
        {
            return await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
