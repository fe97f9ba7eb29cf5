using System.Diagnostics;

namespace Gateway.Benchmarks.Orchestration;

/// <summary>A command run to its end for its output: the gateway's build, the peers' npm install, git.</summary>
internal static class Command
{
    /// <summary>
    /// Runs <paramref name="fileName"/> with <paramref name="arguments"/> and returns its exit code and its whole standard
    /// output and error, read together so that neither pipe fills while the other is read.
    /// </summary>
    /// <exception cref="System.ComponentModel.Win32Exception">The command is not installed.</exception>
    /// <exception cref="TimeoutException">It ran longer than <paramref name="timeout"/>; it was killed with its children.</exception>
    public static (int ExitCode, string Output, string Error) Run(string fileName, IEnumerable<string> arguments, string? workingDirectory = null, TimeSpan? timeout = null)
    {
        var start = new ProcessStartInfo(fileName, arguments)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        if (workingDirectory is not null)
        {
            start.WorkingDirectory = workingDirectory;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start " + fileName);
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (timeout is { } limit && !process.WaitForExit(limit))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', arguments)} did not finish within {limit.TotalMinutes:0} minutes");
        }

        // Without a timeout (or after it): waits for the exit and for both pipes to close.
        process.WaitForExit();
        return (process.ExitCode, output.Result, error.Result);
    }
}
