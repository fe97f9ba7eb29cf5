using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;

namespace Gateway.Benchmarks.Orchestration;

/// <summary>Where the repository, the gateway's Release build, the dotnet host and this tool are; builds the gateway when its build is missing or stale.</summary>
internal static class Repo
{
    private static readonly string[] SourceDirectories = [Path.Combine("src", "Gateway")];

    public static string Root { get; } = FindRoot();

    /// <summary><c>src/Gateway/bin/Release/net10.0/Gateway.dll</c>.</summary>
    public static string GatewayDll => Path.Combine(Root, "src", "Gateway", "bin", "Release", "net10.0", "Gateway.dll");

    /// <summary>The <c>dotnet</c> host of the running runtime.</summary>
    public static string DotnetHost
    {
        get
        {
            // .../dotnet/shared/Microsoft.NETCore.App/<version>/ -> .../dotnet/dotnet
            var candidate = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", "..", "dotnet"));
            return File.Exists(candidate) ? candidate : "dotnet";
        }
    }

    /// <summary>How to start this tool again in another mode: the apphost, or <c>dotnet Gateway.Benchmarks.dll</c>.</summary>
    public static (string FileName, string[] Prefix) Self()
    {
        var path = Environment.ProcessPath ?? DotnetHost;
        return Path.GetFileNameWithoutExtension(path) == "dotnet"
            ? (path, [Assembly.GetEntryAssembly()!.Location])
            : (path, []);
    }

    /// <summary>Builds <c>src/Gateway</c> in Release when <paramref name="dll"/> is missing or older than a source file; throws if the build fails.</summary>
    public static void EnsureGatewayBuilt(string dll)
    {
        var built = File.Exists(dll) ? File.GetLastWriteTimeUtc(dll) : DateTime.MinValue;
        var newest = SourceDirectories
            .Select(d => Path.Combine(Root, d))
            .Where(Directory.Exists)
            .SelectMany(d => Directory.EnumerateFiles(d, "*", SearchOption.AllDirectories))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Select(File.GetLastWriteTimeUtc)
            .DefaultIfEmpty(DateTime.MinValue)
            .Max();
        if (built >= newest)
        {
            return;
        }

        Progress.Write(File.Exists(dll) ? "the gateway's Release build is older than its sources: building it" : "building the gateway (Release)");
        var start = new ProcessStartInfo(DotnetHost, ["build", "-c", "Release", "-nologo", "-v:q", Path.Combine(Root, "src", "Gateway", "Gateway.csproj")])
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
        };
        using var build = Process.Start(start) ?? throw new InvalidOperationException("could not start dotnet build");
        var output = build.StandardOutput.ReadToEnd();
        if (!build.WaitForExit(TimeSpan.FromMinutes(5)) || build.ExitCode != 0)
        {
            Console.Error.WriteLine(output);
            throw new InvalidOperationException("building src/Gateway failed");
        }
    }

    private static string FindRoot()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var directory = new DirectoryInfo(start); directory is not null; directory = directory.Parent)
            {
                if (File.Exists(Path.Combine(directory.FullName, "Gateway.sln")))
                {
                    return directory.FullName;
                }
            }
        }

        throw new InvalidOperationException($"No Gateway.sln above {AppContext.BaseDirectory} or the current directory");
    }
}

/// <summary>Progress lines on stderr, with the time since start.</summary>
internal static class Progress
{
    private static readonly Stopwatch Clock = Stopwatch.StartNew();

    public static void Write(string message) => Console.Error.WriteLine(FormattableString.Invariant($"[{Clock.Elapsed.TotalSeconds,7:F1}s] {message}"));
}
