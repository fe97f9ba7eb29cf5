using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Browser;

/// <summary>
/// Loads one page in Debian's headless Chromium through <c>node/browser.js</c> (playwright-core, never a
/// downloaded browser) and returns what the page put in <c>window.__result</c>.
/// </summary>
public static class HeadlessChromium
{
    /// <summary>Where Debian's <c>chromium</c> package installs the browser.</summary>
    public const string ExecutablePath = "/usr/bin/chromium";

    /// <summary>Runs the page; fails the test if the browser is missing, cannot start, or the page does not finish within <paramref name="timeout"/>.</summary>
    public static Task<JsonElement> RunAsync(Uri page, TimeSpan timeout, ITestOutputHelper output)
    {
        ArgumentNullException.ThrowIfNull(page);
        return RunScriptAsync("browser.js", [page.ToString(), ((int)timeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture)], timeout, output);
    }

    /// <summary>
    /// Runs <c>node/&lt;script&gt;</c> (a playwright-core driver that prints <c>{"result":…}</c> or
    /// <c>{"error":…}</c> as its last line) with <paramref name="arguments"/>; fails the test on an error.
    /// </summary>
    public static async Task<JsonElement> RunScriptAsync(string script, IEnumerable<string> arguments, TimeSpan timeout, ITestOutputHelper output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (!File.Exists(ExecutablePath))
        {
            Assert.Fail($"No Chromium at {ExecutablePath}. The browser tests drive Debian's Chromium: run scripts/test.sh, which installs it (apt-get install -y chromium).");
        }

        await NodeModules.EnsureInstalledAsync();
        var start = new ProcessStartInfo("node", [Path.Combine(RepoPaths.NodeDirectory, script), .. arguments])
        {
            WorkingDirectory = RepoPaths.NodeDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["CHROMIUM_PATH"] = ExecutablePath;
        using var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start node");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(timeout + TestTimeouts.Long);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        var printed = (await stdout).Trim();
        var console = (await stderr).Trim();
        output.WriteLine($"----- node {script} {string.Join(' ', start.ArgumentList.Skip(1))} (exit {process.ExitCode}) -----\n{printed}\n{console}");
        using var document = JsonDocument.Parse(printed.Split('\n')[^1]);
        if (document.RootElement.TryGetProperty("error", out var error))
        {
            Assert.Fail($"The browser run failed: {error.GetString()}\n{console}");
        }

        return document.RootElement.GetProperty("result").Clone();
    }
}
