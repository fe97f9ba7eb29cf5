using System.Diagnostics;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Shutdown;

/// <summary>
/// Graceful shutdown (PROTOCOL.md §6 1001, §2 "every connection that got an open gets exactly one
/// close"): on SIGTERM every socket is closed with 1001, the app gets each close once, new sockets
/// are refused while draining, and the process is gone within <c>Gateway__Shutdown__Timeout</c>.
/// </summary>
public sealed class ShutdownSpecs(ShutdownSpecs.Fixture fixture, ITestOutputHelper output)
    : GatewaySpec(fixture.Host, output), IClassFixture<ShutdownSpecs.Fixture>
{
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(8);
    private static readonly TimeSpan ExitMargin = TestTimeouts.Dilated(TimeSpan.FromSeconds(3));

    // The app takes this long over each close callback, so the drain lasts long enough to be seen (with room for a
    // stall of a loaded machine between the drain's log line and the newcomer's refusal).
    private static readonly TimeSpan CloseCallbackDelay = TimeSpan.FromSeconds(3);

    [Fact]
    public async Task Sigterm_closes_every_socket_with_1001_delivers_each_close_once_refuses_newcomers_and_exits_in_time()
    {
        var prefix = UniqueUser("term");
        var node = await StartNodeAsync();
        var dotnetClients = new List<WsClient>();
        var nodeClients = new List<NodeWsConnection>();
        for (var i = 0; i < 6; i++)
        {
            dotnetClients.Add(await ConnectAsync($"{prefix}-cws{i}"));
        }

        for (var i = 0; i < 4; i++)
        {
            nodeClients.Add(await node.OpenAsync(Gateway.WebSocketUri(), new Dictionary<string, string> { ["X-Bfl-User"] = $"{prefix}-node{i}" }));
        }

        var opens = await App.WaitForCountAsync(10, r => r.Action == "open" && r.UserName!.StartsWith(prefix, StringComparison.Ordinal));
        App.Responder = request => request.Action == "close" ? new AppReply(200, Delay: CloseCallbackDelay) : null;

        var clock = Stopwatch.StartNew();
        await Gateway.SignalTerminateAsync();

        // While it drains, a newcomer is refused before the upgrade.
        await Gateway.Output.WaitForAsync(l => l.Contains("Shutting down: closed 10 connections with 1001", StringComparison.Ordinal), what: "the drain to start");
        var (refused, response) = await RawHttp.SendAsync(Gateway.Port, RawHttp.UpgradeRequest("/ws", Gateway.Port, $"X-Bfl-User: {prefix}-late"));
        await refused.DisposeAsync();
        Assert.Equal(503, response.Status);
        Assert.Equal("Shutting down", response.BodyText.Trim());
        Assert.False(Gateway.HasExited, "the drain was over before the newcomer's refusal could be checked");

        var closes = await Task.WhenAll(dotnetClients.Select(c => c.WaitForCloseAsync()).Concat(nodeClients.Select(c => c.WaitForCloseAsync())));
        Assert.All(closes, close => Assert.Equal(new WsClose(1001, "gateway shutting down", FrameReceived: true), close));

        var exitCode = await Gateway.WaitForExitAsync(ShutdownTimeout + ExitMargin);
        var elapsed = clock.Elapsed;
        Output.WriteLine($"exited with {exitCode} {elapsed} after SIGTERM");
        Assert.Equal(0, exitCode);
        Assert.True(elapsed >= CloseCallbackDelay, $"exited after {elapsed}, before the close callbacks could have been delivered");
        Assert.Contains(Gateway.Output.Lines, l => l.Contains("Shutdown drained", StringComparison.Ordinal));

        // The drain ran as Akka's coordinated shutdown, started by the host's stopping signal (Akka logs through its
        // own logger actor, so its line's position among the gateway's is not fixed).
        Assert.Contains(Gateway.Output.Lines, l => l.Contains("CoordinatedShutdown invoked due to [Reason:Akka.Actor.CoordinatedShutdown+ClrExitReason]", StringComparison.Ordinal));

        // The process is gone, so these are all the callbacks there will ever be.
        foreach (var open in opens)
        {
            var callbacks = App.ForConnection(open.ConnId!);
            Assert.Equal(["open", "close"], callbacks.Select(c => c.Action));
            Assert.True(callbacks[1].Delivered, $"close of {open.UserName} not delivered");
        }

        Assert.DoesNotContain(App.Requests, r => r.UserName == $"{prefix}-late");
    }

    [Fact]
    public async Task Sigterm_with_the_app_down_still_closes_with_1001_and_exits_within_the_shutdown_timeout()
    {
        var shortTimeout = TimeSpan.FromSeconds(2);
        var host = await StartOwnGatewayAsync(o => o.With("Shutdown", "Timeout", "00:00:02"), "gateway with a 2 s shutdown timeout");
        var prefix = UniqueUser("termdown");
        var clients = new List<WsClient>();
        for (var i = 0; i < 5; i++)
        {
            clients.Add(await ConnectAsync($"{prefix}-{i}", host: host));
        }

        await host.App.WaitForCountAsync(5, r => r.Action == "open");
        await host.App.StopAsync();

        var clock = Stopwatch.StartNew();
        await host.Gateway.SignalTerminateAsync();
        var closes = await Task.WhenAll(clients.Select(c => c.WaitForCloseAsync()));
        var exitCode = await host.Gateway.WaitForExitAsync(shortTimeout + ExitMargin);
        var elapsed = clock.Elapsed;

        Output.WriteLine($"exited with {exitCode} {elapsed} after SIGTERM");
        Assert.All(closes, close => Assert.Equal(new WsClose(1001, "gateway shutting down", FrameReceived: true), close));
        Assert.True(elapsed >= shortTimeout * 0.9, $"exited after {elapsed}, without waiting for the app");
        Assert.Contains(host.Gateway.Output.Lines, l => l.Contains("Shutdown deadline of 00:00:02 reached", StringComparison.Ordinal));
        Assert.Equal(0, exitCode);
    }

    /// <summary>A gateway with an 8 s shutdown timeout that waits up to 10 s for one callback.</summary>
    public sealed class Fixture : GatewayFixture
    {
        protected override void Configure(GatewayProcessOptions options)
        {
            ArgumentNullException.ThrowIfNull(options);
            options
                .With("Shutdown", "Timeout", "00:00:08")
                .With("Callback", "Timeout", "00:00:10");
        }
    }
}
