using System.Diagnostics;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Soak;

/// <summary>
/// Issue 14: everything at once. Churning clients of both dialects that end every way a socket ends, an
/// app that fails, hangs and goes down for about a quarter of the run, and concurrent pushes, closes and
/// lists through the admin API; then the contract's guarantees checked per connection (PROTOCOL.md §2, §6).
/// Bounded here (about a minute); <c>GATEWAY_SOAK_SECONDS</c> / <c>GATEWAY_SOAK_SOCKETS</c> make it longer,
/// <c>GATEWAY_SOAK_SEED</c> replays a run's choices.
/// </summary>
[Collection(SoakCollection.Name)]
public sealed class SoakSpecs(ITestOutputHelper output)
{
    /// <summary>How far above its idle RSS the gateway may stay once the run is over.</summary>
    private const long MemoryMargin = 64L * 1024 * 1024;

    [Fact]
    public async Task Under_churn_faults_and_admin_load_every_connection_keeps_the_contract()
    {
        var settings = SoakSettings.FromEnvironment(seconds: 60, sockets: 300);
        output.WriteLine($"soak {settings}");
        await using var driver = await SoakDriver.StartAsync(settings);
        var firstLine = driver.Gateway.Output.Count;
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource();

        // Clients stop being replaced before the end, so that the last ones (silent ones included) end within the run.
        var spawnFor = settings.Duration - SoakDriver.PingTimeout - TimeSpan.FromSeconds(2);
        var faults = driver.RunFaultsAsync(spawnFor, stop.Token);
        var pushes = driver.RunPushesAsync(stop.Token);
        var sampling = driver.RunSamplingAsync(stop.Token);
        try
        {
            await Wait.ForAsync(driver.RunClientsAsync(spawnFor, CancellationToken.None).ContinueWith(static _ => true, TaskScheduler.Default), settings.Duration + TestTimeouts.Long * 2, "every client to end");
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(faults, pushes, sampling);
        }

        driver.CheckAlive();
        await driver.SettleAsync();
        await driver.CheckListEmptyAsync();
        var duplicates = driver.CheckConnections();
        var rssAfter = await driver.CheckMemoryAsync(MemoryMargin);
        driver.CheckAlive();
        await Report(driver, clock.Elapsed, duplicates, rssAfter, firstLine);
    }

    [Fact]
    public async Task At_sigterm_every_open_socket_of_both_dialects_sees_1001_and_the_app_gets_each_close()
    {
        var settings = SoakSettings.FromEnvironment(seconds: 10, sockets: 100) with { Duration = TimeSpan.Zero };
        output.WriteLine($"soak (SIGTERM) {settings}");
        await using var driver = await SoakDriver.StartAsync(settings);
        var firstLine = driver.Gateway.Output.Count;
        var clock = Stopwatch.StartNew();
        var clients = Enumerable.Range(0, settings.Sockets).Select(i => driver.NewClient(i, openAtShutdown: true)).ToList();
        var running = clients.Select(c => Task.Run(() => c.RunAsync(driver, CancellationToken.None))).ToList();

        // SIGTERM once every client is connected and at least three of its messages reached the app.
        await Wait.UntilAsync(
            () => clients.All(c => c.Finished || (c.ConnId is not null && driver.App.For(c.ConnId)?.Entries.Count(e => e.Kind == CallbackKind.Message) >= 3)),
            TestTimeouts.Long,
            "every client connected with three messages at the app");
        await driver.Gateway.SignalTerminateAsync();
        await Wait.ForAsync(Task.WhenAll(running).ContinueWith(static _ => true, TaskScheduler.Default), TestTimeouts.Long, "every client to see its close");
        var exitCode = await driver.Gateway.WaitForExitAsync(TestTimeouts.Long);
        if (exitCode != 0)
        {
            driver.Violation("the gateway exits cleanly on SIGTERM", "gateway", $"exit code {exitCode}");
        }

        var duplicates = driver.CheckConnections();
        await Report(driver, clock.Elapsed, duplicates, rssAfter: 0, firstLine);
    }

    private async Task Report(SoakDriver driver, TimeSpan elapsed, int duplicates, long rssAfter, int firstLine)
    {
        foreach (var line in await driver.ReportAsync(elapsed, duplicates, rssAfter))
        {
            output.WriteLine(line);
        }

        output.WriteLine($"the gateway's whole log: {driver.SaveGatewayLog()}");
        if (driver.ViolationCount > 0)
        {
            var violations = driver.DescribeViolations();
            output.WriteLine(violations);
            var log = driver.Gateway.Output.Since(firstLine);
            output.WriteLine($"----- gateway log: {log.Count} lines; warnings and errors, then the last 100 -----");
            foreach (var line in log.Where(l => l.Contains("warn:", StringComparison.Ordinal) || l.Contains("fail:", StringComparison.Ordinal) || l.Contains("crit:", StringComparison.Ordinal)).Take(100))
            {
                output.WriteLine(line);
            }

            foreach (var line in log.TakeLast(100))
            {
                output.WriteLine(line);
            }

            Assert.Fail($"soak seed {driver.Settings.Seed}: {driver.ViolationCount} violations.\n{violations}");
        }
    }
}

/// <summary>The soak runs alone: on two cores, other specs beside it would stall both (and it them).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SoakCollection
{
    public const string Name = "Soak, alone";
}
