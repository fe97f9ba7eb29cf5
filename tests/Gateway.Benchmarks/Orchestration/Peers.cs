using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Gateway.Benchmarks.Orchestration;

/// <summary>
/// The hand-written gateways the benchmark compares the gateway with (<c>--peer ws|bun|all</c>), in
/// <c>tests/Gateway.Benchmarks/peers</c>: <c>ws</c> runs <c>ws-gateway.js</c> on Node with the npm
/// <c>ws</c> library, <c>bun</c> runs <c>bun-gateway.js</c> on Bun's built-in server (the npm <c>bun</c>
/// package's binary). Their npm packages are installed with <c>npm ci</c> (the locked versions) when
/// <c>node_modules</c> is missing or older than the lock file.
/// </summary>
internal static class Peers
{
    private static readonly object InstallLock = new();

    /// <summary>Every peer, in the order <c>--peer all</c> runs them.</summary>
    public static IReadOnlyList<string> All { get; } = ["ws", "bun"];

    public static string Directory => Path.Combine(Repo.Root, "tests", "Gateway.Benchmarks", "peers");

    /// <summary>
    /// The peers named by <c>--peer</c>: none without it, every one for <c>all</c>, else a comma-separated
    /// list of <see cref="All"/>. Throws <see cref="ArgumentException"/> for an unknown name.
    /// </summary>
    public static IReadOnlyList<string> FromOptions(BenchmarkOptions options)
    {
        var given = options.String("peer", "");
        if (given.Length == 0 || given == "none")
        {
            return [];
        }

        if (given == "all")
        {
            return All;
        }

        var names = given.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct().ToList();
        var unknown = names.FirstOrDefault(n => !All.Contains(n));
        return unknown is null ? names : throw new ArgumentException($"--peer takes ws, bun, all or a comma-separated list, not '{unknown}'");
    }

    /// <summary>How to start <paramref name="peer"/>: <c>node ws-gateway.js</c> or <c>bun bun-gateway.js</c>, in <see cref="Directory"/>.</summary>
    public static ProcessStartInfo StartInfo(string peer)
    {
        EnsureInstalled();
        var start = peer switch
        {
            "ws" => new ProcessStartInfo("node", ["ws-gateway.js"]),
            "bun" => new ProcessStartInfo(BunBinary(), ["bun-gateway.js"]),
            _ => throw new ArgumentException($"no peer '{peer}'"),
        };
        start.WorkingDirectory = Directory;
        return start;
    }

    /// <summary>
    /// The bun binary itself (not a wrapper script), so that the process measured is the server: the
    /// package's postinstall moves the platform package's binary to <c>bun/bin/bun.exe</c>; without it,
    /// the binary stays in <c>@oven/bun-linux-&lt;arch&gt;</c>.
    /// </summary>
    private static string BunBinary()
    {
        var arch = RuntimeInformation.OSArchitecture == Architecture.Arm64 ? "aarch64" : "x64";
        var candidates = new[]
        {
            Path.Combine(Directory, "node_modules", "@oven", $"bun-linux-{arch}", "bin", "bun"),
            Path.Combine(Directory, "node_modules", "bun", "bin", "bun.exe"),
        };
        return candidates.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException($"no bun binary under {Path.Combine(Directory, "node_modules")} after npm ci");
    }

    /// <summary>Runs <c>npm ci</c> in <see cref="Directory"/> when its <c>node_modules</c> is missing or older than <c>package-lock.json</c>.</summary>
    private static void EnsureInstalled()
    {
        lock (InstallLock)
        {
            // npm ci writes node_modules/.package-lock.json last: its age says whether the install matches the lock.
            var installed = Path.Combine(Directory, "node_modules", ".package-lock.json");
            var lockFile = Path.Combine(Directory, "package-lock.json");
            if (File.Exists(installed) && File.GetLastWriteTimeUtc(installed) >= File.GetLastWriteTimeUtc(lockFile))
            {
                return;
            }

            Progress.Write($"installing the peers' npm packages (npm ci in {Directory})");
            var (exitCode, output, error) = Command.Run("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"], Directory, TimeSpan.FromMinutes(5));
            if (exitCode != 0 || !File.Exists(installed))
            {
                throw new InvalidOperationException($"npm ci in {Directory} failed with {exitCode}:\n{output}\n{error}");
            }
        }
    }
}
