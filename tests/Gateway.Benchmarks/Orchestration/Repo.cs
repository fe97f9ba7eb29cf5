using System.ComponentModel;
using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Gateway.Benchmarks.Orchestration;

/// <summary>
/// Where the repository, the gateway's Release build and publish, the dotnet host and this tool are; builds or publishes
/// the gateway when it is missing or stale.
/// </summary>
internal static class Repo
{
    private static readonly string[] SourceDirectories = [Path.Combine("src", "Gateway")];

    // Written next to a Gateway.dll this tool built or published: what it was built from (DescribeBuild).
    private const string BuildStampName = "gateway-build.json";

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
        // No timeout: a publish takes minutes on a slow machine.
        var (exitCode, output, error) = Command.Run(DotnetHost, arguments);
        if (exitCode != 0)
        {
            Console.Error.WriteLine(output);
            Console.Error.WriteLine(error);
            throw new InvalidOperationException($"dotnet {arguments[0]} of src/Gateway failed");
        }

        if (error.Length > 0)
        {
            Console.Error.Write(error);
        }

        File.WriteAllText(BuildStampPath(dll), new JsonObject
        {
            ["commit"] = Git("rev-parse", "HEAD")?.Trim(),
            ["modified"] = new JsonArray([.. (Git("status", "--porcelain", "--", Path.Combine("src", "Gateway")) ?? string.Empty)
                .Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(line => (JsonNode)line[3..].Trim())]),
            ["builtAt"] = DateTime.UtcNow.ToString("O"),
            ["dllSha256"] = Sha256(dll),
        }.ToJsonString());
        return dll;
    }

    /// <summary>
    /// What the gateway at <paramref name="dll"/> was built from, as this tool recorded when it built or published it
    /// (<see cref="EnsureGatewayUpToDate"/>; a copy of its output directory keeps the record): <c>commit</c> (git's
    /// <c>HEAD</c>, null without git), <c>modified</c> (the files under <c>src/Gateway</c> that differed from it, so a
    /// build of uncommitted work says so), <c>builtAt</c> (UTC) and <c>dllSha256</c>. <c>{"recorded": false}</c> for a
    /// build the tool did not make, or one made again by hand since. Each run prints it, so a figure names its build.
    /// </summary>
    public static JsonObject DescribeBuild(string dll)
    {
        try
        {
            var stamp = BuildStampPath(dll);
            if (File.Exists(stamp) && JsonNode.Parse(File.ReadAllText(stamp)) is JsonObject recorded
                && recorded["dllSha256"]?.GetValue<string>() == Sha256(dll))
            {
                return recorded;
            }
        }
        catch (Exception exception) when (exception is IOException or JsonException or InvalidOperationException)
        {
            // An unreadable record is no record.
        }

        return new JsonObject { ["recorded"] = false };
    }

    private static string Sha256(string file)
    {
        using var stream = File.OpenRead(file);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    private static string BuildStampPath(string dll) => Path.Combine(Path.GetDirectoryName(dll)!, BuildStampName);

    /// <summary>git's output for <paramref name="arguments"/> in the repository, or null when git is missing or fails.</summary>
    private static string? Git(params string[] arguments)
    {
        try
        {
            var (exitCode, output, _) = Command.Run("git", arguments, Root);
            return exitCode == 0 ? output : null;
        }
        catch (Exception exception) when (exception is Win32Exception or InvalidOperationException)
        {
            return null;
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
