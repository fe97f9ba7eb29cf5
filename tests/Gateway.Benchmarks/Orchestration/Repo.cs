using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;

namespace Gateway.Benchmarks.Orchestration;

/// <summary>
/// Where the repository, the gateway's Release build and publish, the dotnet host and this tool are; builds or publishes
/// the gateway when it is missing or stale.
/// </summary>
internal static class Repo
{
    private static readonly string[] SourceDirectories = [Path.Combine("src", "Gateway")];

    /// <summary>The directory holding <c>Gateway.sln</c>, above this tool or the current directory.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary><c>src/Gateway/bin/Release/net10.0/Gateway.dll</c>.</summary>
    public static string GatewayDll => Path.Combine(ReleaseOutput, "Gateway.dll");

    /// <summary>
    /// The gateway as the container image ships it: <c>dotnet publish -r &lt;this machine's runtime identifier&gt;</c>, which
    /// <c>Gateway.csproj</c> makes self-contained and one composite ReadyToRun image, in
    /// <c>src/Gateway/bin/Release/net10.0/&lt;rid&gt;/publish/</c>.
    /// </summary>
    public static string PublishedGatewayDll => Path.Combine(ReleaseOutput, PortableRuntimeIdentifier, "publish", "Gateway.dll");

    private static string GatewayProject => Path.Combine(Root, "src", "Gateway", "Gateway.csproj");

    /// <summary>Where <c>dotnet build</c> and <c>dotnet publish</c> of <see cref="GatewayProject"/> in Release put their output.</summary>
    private static string ReleaseOutput => Path.Combine(Root, "src", "Gateway", "bin", "Release", "net10.0");

    /// <summary>
    /// This machine's portable runtime identifier (<c>linux-x64</c>, <c>linux-arm64</c>, <c>osx-arm64</c>), whatever
    /// distribution built the running runtime. Linux with glibc and macOS only (the benchmark's clients need Linux's
    /// loopback addresses anyway); a musl Linux such as Alpine would need <c>linux-musl-*</c>.
    /// </summary>
    /// <exception cref="PlatformNotSupportedException">Another operating system.</exception>
    private static string PortableRuntimeIdentifier
    {
        get
        {
            var os = OperatingSystem.IsLinux() ? "linux"
                : OperatingSystem.IsMacOS() ? "osx"
                : throw new PlatformNotSupportedException("--gateway-publish knows the runtime identifiers of Linux and macOS only");
            return os + "-" + RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant();
        }
    }

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

    /// <summary>
    /// Builds <c>src/Gateway</c> in Release into <see cref="GatewayDll"/>, or with <paramref name="published"/> publishes it
    /// as the image does into <see cref="PublishedGatewayDll"/>, when that file is missing or older than a source file (or,
    /// for the publish, is not self-contained: a publish made by hand with other options); returns the file's path.
    /// </summary>
    /// <exception cref="InvalidOperationException"><c>dotnet build</c> or <c>dotnet publish</c> failed; its output is on stderr.</exception>
    public static string EnsureGatewayUpToDate(bool published)
    {
        var dll = published ? PublishedGatewayDll : GatewayDll;
        var built = File.Exists(dll) ? File.GetLastWriteTimeUtc(dll) : DateTime.MinValue;
        var runtimeConfig = Path.ChangeExtension(dll, ".runtimeconfig.json");
        if (published && (!File.Exists(runtimeConfig) || !File.ReadAllText(runtimeConfig).Contains("includedFrameworks", StringComparison.Ordinal)))
        {
            // Not self-contained: a publish made by hand with other options, not the image's.
            built = DateTime.MinValue;
        }

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
            return dll;
        }

        var what = published ? "publish (self-contained, composite ReadyToRun: a few minutes)" : "Release build";
        Progress.Write(File.Exists(dll) ? $"the gateway's {what} is older than its sources: making it again" : $"making the gateway's {what}");
        string[] arguments = published
            ? ["publish", "-c", "Release", "-r", PortableRuntimeIdentifier, "-nologo", "-v:q", GatewayProject]
            : ["build", "-c", "Release", "-nologo", "-v:q", GatewayProject];
        var start = new ProcessStartInfo(DotnetHost, arguments)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
        };
        using var build = Process.Start(start) ?? throw new InvalidOperationException("could not start dotnet " + arguments[0]);
        // No timeout: reading to the end waits for dotnet to close its output, which it does when it exits.
        var output = build.StandardOutput.ReadToEnd();
        build.WaitForExit();
        if (build.ExitCode != 0)
        {
            Console.Error.WriteLine(output);
            throw new InvalidOperationException($"dotnet {arguments[0]} of src/Gateway failed");
        }

        return dll;
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
