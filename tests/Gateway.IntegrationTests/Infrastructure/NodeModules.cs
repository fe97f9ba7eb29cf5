using System.Diagnostics;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>
/// Makes sure <c>tests/Gateway.IntegrationTests/node/node_modules</c> exists, so that plain
/// <c>dotnet test</c> works on a fresh clone: when a package is missing, runs <c>npm ci</c> (exactly
/// the locked versions) once per test run.
/// </summary>
public static class NodeModules
{
    private static readonly string[] RequiredPackages = ["ws", "playwright-core"];
    private static readonly Lazy<Task> Installation = new(InstallAsync, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Completes once every package of the lock file is installed.</summary>
    public static Task EnsureInstalledAsync() => Installation.Value;

    private static bool IsInstalled() =>
        RequiredPackages.All(name => File.Exists(Path.Combine(RepoPaths.NodeDirectory, "node_modules", name, "package.json")));

    private static async Task InstallAsync()
    {
        if (IsInstalled())
        {
            return;
        }

        var start = new ProcessStartInfo("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        {
            WorkingDirectory = RepoPaths.NodeDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var npm = Process.Start(start) ?? throw new InvalidOperationException("Could not start npm");
        var stdout = npm.StandardOutput.ReadToEndAsync();
        var stderr = npm.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        try
        {
            await npm.WaitForExitAsync(cancel.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            npm.Kill(entireProcessTree: true);
            throw new TimeoutException("npm ci did not finish within 5 minutes");
        }

        if (npm.ExitCode != 0 || !IsInstalled())
        {
            throw new InvalidOperationException($"npm ci in {RepoPaths.NodeDirectory} failed with {npm.ExitCode}:\n{await stdout.ConfigureAwait(false)}\n{await stderr.ConfigureAwait(false)}");
        }
    }
}
