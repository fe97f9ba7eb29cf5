using System.Runtime.InteropServices;

namespace Gateway.Hosting;

/// <summary>The process's open-file limit (RLIMIT_NOFILE), raised to its hard limit at start-up where allowed.</summary>
internal static partial class FileDescriptorLimit
{
    private const int RlimitNofile = 7;

    /// <summary>Raises the soft limit to the hard limit (no privilege needed) and returns the resulting soft limit; null where unknown.</summary>
    public static long? RaiseToHardLimit()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        try
        {
            if (GetRLimit(RlimitNofile, out var limit) != 0)
            {
                return null;
            }

            if (limit.Current < limit.Maximum)
            {
                var raised = new RLimit { Current = limit.Maximum, Maximum = limit.Maximum };
                if (SetRLimit(RlimitNofile, in raised) == 0)
                {
                    limit = raised;
                }
            }

            return limit.Current > long.MaxValue ? long.MaxValue : (long)limit.Current;
        }
        catch (Exception exception) when (exception is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    /// <summary>File descriptors open now (Linux: entries of /proc/self/fd); 0 where unknown.</summary>
    public static int CountOpen()
    {
        try
        {
            return OperatingSystem.IsLinux() ? Directory.GetFileSystemEntries("/proc/self/fd").Length : 0;
        }
        catch (IOException)
        {
            return 0;
        }
        catch (UnauthorizedAccessException)
        {
            return 0;
        }
    }

    [LibraryImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
    private static partial int GetRLimit(int resource, out RLimit limit);

    [LibraryImport("libc", EntryPoint = "setrlimit", SetLastError = true)]
    private static partial int SetRLimit(int resource, in RLimit limit);

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current;
        public ulong Maximum;
    }
}
