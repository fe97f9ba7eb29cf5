using System.Reflection;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>Where the repository, the built gateway and the Node clients are, found from the test assembly.</summary>
public static class RepoPaths
{
    private static readonly Lazy<string> Root = new(FindRoot);

    /// <summary>The folder holding <c>Gateway.sln</c>.</summary>
    public static string RepoRoot => Root.Value;

    /// <summary>The build configuration of the test assembly (Debug, Release), which the gateway is built in too.</summary>
    public static string Configuration { get; } =
        typeof(RepoPaths).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "Configuration")?.Value ?? "Debug";

    /// <summary><c>src/Gateway/bin/&lt;Configuration&gt;/net10.0/Gateway.dll</c>, built by the project reference.</summary>
    public static string GatewayDll => Path.Combine(RepoRoot, "src", "Gateway", "bin", Configuration, "net10.0", "Gateway.dll");

    /// <summary><c>tests/Gateway.IntegrationTests/node</c>: the npm <c>ws</c> harness and its package lock.</summary>
    public static string NodeDirectory => Path.Combine(RepoRoot, "tests", "Gateway.IntegrationTests", "node");

    /// <summary>The <c>dotnet</c> host running these tests, so the gateway runs on the same runtime.</summary>
    public static string DotnetHost
    {
        get
        {
            var fromSdk = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
            if (!string.IsNullOrEmpty(fromSdk) && File.Exists(fromSdk))
            {
                return fromSdk;
            }

            var current = Environment.ProcessPath;
            return current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet" ? current : "dotnet";
        }
    }

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Gateway.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No Gateway.sln above {AppContext.BaseDirectory}");
    }
}
