using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using Gateway.Hosting;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Limits;

/// <summary>
/// The connection cap (PROTOCOL.md §6 "a connection limit"): derived from the open-file limit, or set
/// with <c>Gateway__Limits__MaxConnections</c>. Past it new sockets are refused with HTTP 503 before the
/// upgrade, while the process and the sockets it holds carry on.
/// </summary>
public sealed partial class ConnectionLimitSpecs(ConnectionLimitSpecs.Fixture fixture, ITestOutputHelper output)
    : GatewaySpec(fixture.Host, output), IClassFixture<ConnectionLimitSpecs.Fixture>
{
    private const int FileLimit = 512;

    [Fact]
    public async Task Under_ulimit_512_the_cap_is_derived_from_the_file_limit_and_refusals_leave_the_held_sockets_working()
    {
        var started = await Gateway.Output.WaitForAsync(l => l.Contains("Gateway started", StringComparison.Ordinal));
        var match = AtMost().Match(started);
        var cap = int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        var openAtStart = int.Parse(match.Groups[3].Value, CultureInfo.InvariantCulture);
        Assert.Equal(FileLimit.ToString(CultureInfo.InvariantCulture), match.Groups[2].Value);
        Assert.Equal(ConnectionLimiter.ForFileLimit(FileLimit, new CallbackOptions().MaxConcurrency, openAtStart), cap);
        Assert.InRange(cap, 16, FileLimit / 2);
        Assert.Equal(cap, await Gateway.Admin.MetricAsync("gateway_connection_limit"));

        // Open until refused: exactly the cap gets through.
        var prefix = UniqueUser("cap");
        var clients = new List<WsClient>();
        WebSocketException? refusal = null;
        for (var i = 0; i <= cap + 1 && refusal is null; i++)
        {
            try
            {
                clients.Add(await ConnectAsync($"{prefix}-{i}"));
            }
            catch (WebSocketException exception)
            {
                refusal = exception;
            }
        }

        Output.WriteLine($"{clients.Count} connections held, then: {refusal?.Message}; the gateway has {FaultsAdminReads.OpenFileCount(Gateway.ProcessId)} files open");
        Assert.NotNull(refusal);
        Assert.Equal(cap, clients.Count);

        // Refusals are plain HTTP 503s before the upgrade, however many come.
        for (var attempt = 0; attempt < 20; attempt++)
        {
            var (connection, response) = await RawHttp.SendAsync(Gateway.Port, RawHttp.UpgradeRequest("/ws", Gateway.Port, "X-Bfl-User: " + prefix + "-late"));
            await connection.DisposeAsync();
            Assert.Equal(503, response.Status);
            Assert.Equal("Connection limit reached", response.BodyText.Trim());
            Assert.Equal(["5"], response.HeaderValues("Retry-After"));
        }

        await Gateway.Output.WaitForAsync(l => l.Contains($"Connection limit of {cap} reached", StringComparison.Ordinal), what: "the connection limit warning");
        Assert.True(await Gateway.Admin.MetricAsync("gateway_connection_rejected_total", ("gateway_rejection_reason", "limit")) >= 21);
        await AssertAliveAndEverySocketWorksAsync(clients, prefix);
    }

    [Fact]
    public async Task Under_ulimit_512_connections_far_past_the_cap_are_dropped_and_the_process_survives()
    {
        var host = await StartOwnGatewayAsync(o => o.FileDescriptorLimit = FileLimit, "gateway under ulimit -n 512");
        var cap = (int)await host.Gateway.Admin.MetricAsync("gateway_connection_limit");
        var prefix = UniqueUser("far");
        var clients = new List<WsClient>();
        for (var i = 0; i < cap; i++)
        {
            clients.Add(await ConnectAsync($"{prefix}-{i}", host: host));
        }

        await host.App.WaitForCountAsync(cap, r => r.Action == "open");
        var openAtCap = FaultsAdminReads.OpenFiles(host.Gateway.ProcessId);
        var filesAtCap = openAtCap.Count;

        // Past the WebSocket cap the gateway still admits TCP connections up to its admin headroom
        // (these send nothing, as a slow or hostile client would); beyond that it drops them unread.
        var idle = new List<TcpClient>();
        try
        {
            var refusedAt = new List<int>();
            for (var i = 0; i < ConnectionLimiter.AdminHeadroom + 16; i++)
            {
                var tcp = new TcpClient();
                try
                {
                    await tcp.ConnectAsync(IPAddress.Loopback, host.Gateway.Port);
                }
                catch (SocketException)
                {
                    // Past the headroom the gateway resets at once, which a loaded client may see before its connect completes.
                    refusedAt.Add(i);
                }

                idle.Add(tcp);
            }

            // The headroom admits its connections, less the few the test's own admin client holds open.
            Assert.True(
                refusedAt.Count == 0 || refusedAt.Min() >= ConnectionLimiter.AdminHeadroom - 8,
                $"an idle connection within the admin headroom was refused (at {string.Join(", ", refusedAt)})");

            var outcome = await Record.ExceptionAsync(() => RawHttp.SendAsync(host.Gateway.Port, RawHttp.UpgradeRequest("/ws", host.Gateway.Port), TimeSpan.FromSeconds(5)));
            Assert.False(
                host.Gateway.HasExited,
                $"the gateway died (exit code {host.Gateway.ExitCode}) with {cap} WebSockets held and {idle.Count} idle connections; it had {filesAtCap} of {FileLimit} files open at the cap");
            Assert.True(
                outcome is IOException or SocketException,
                $"a connection far past the cap should be dropped at once; got {outcome?.GetType().Name ?? "an answer"}: {outcome?.Message} ({filesAtCap} of {FileLimit} files open at the cap)");
        }
        finally
        {
            idle.ForEach(tcp => tcp.Dispose());
        }

        try
        {
            await Wait.UntilAsync(() => !host.Gateway.HasExited && FaultsAdminReads.OpenFileCount(host.Gateway.ProcessId) <= filesAtCap + 8, what: "the idle connections to be released");
        }
        catch (TimeoutException timeout) when (!host.Gateway.HasExited)
        {
            Assert.Fail($"{timeout.Message}: {FaultsAdminReads.DescribeNewFiles(openAtCap, FaultsAdminReads.OpenFiles(host.Gateway.ProcessId))}");
        }

        using var health = await host.Gateway.Http.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        await Task.WhenAll(clients.Select(async client =>
        {
            await client.SendTextAsync("{\"event\":\"ping\"}");
            Assert.Equal("{\"event\":\"pong\"}", await client.ReceiveTextAsync());
        }));
    }

    [Fact]
    public async Task MaxConnections_caps_exactly_at_N_even_under_a_concurrent_burst()
    {
        const int Max = 20;
        var host = await StartOwnGatewayAsync(o => o.With("Limits", "MaxConnections", Max.ToString(CultureInfo.InvariantCulture)), "gateway with MaxConnections=20");
        Assert.Equal(Max, await host.Gateway.Admin.MetricAsync("gateway_connection_limit"));
        var prefix = UniqueUser("max");

        var attempts = await Task.WhenAll(Enumerable.Range(0, Max * 3).Select(async i =>
        {
            try
            {
                return (Client: (WsClient?)await ConnectAsync($"{prefix}-{i}", host: host), Refusal: (Exception?)null);
            }
            catch (WebSocketException exception)
            {
                return (Client: (WsClient?)null, Refusal: (Exception?)exception);
            }
        }));

        var held = attempts.Where(a => a.Client is not null).Select(a => a.Client!).ToList();
        Assert.Equal(Max, held.Count);
        Assert.All(attempts.Where(a => a.Refusal is not null), a => Assert.Contains("503", a.Refusal!.Message, StringComparison.Ordinal));
        Assert.Equal(Max * 2, await host.Gateway.Admin.MetricAsync("gateway_connection_rejected_total", ("gateway_rejection_reason", "limit")));
        await host.App.WaitForCountAsync(Max, r => r.Action == "open");

        // A slot freed is a slot to take.
        await held[0].CloseAsync();
        await Wait.UntilAsync(
            async () => await host.Gateway.Admin.MetricAsync("gateway_connection_opened_total") - await host.Gateway.Admin.MetricAsync("gateway_connection_closed_total") == Max - 1,
            what: "the closed connection's slot to be released");
        var replacement = await ConnectAsync($"{prefix}-again", host: host);
        await replacement.SendTextAsync("{\"event\":\"ping\"}");
        Assert.Equal("{\"event\":\"pong\"}", await replacement.ReceiveTextAsync());
        var (connection, response) = await RawHttp.SendAsync(host.Gateway.Port, RawHttp.UpgradeRequest("/ws", host.Gateway.Port));
        await connection.DisposeAsync();
        Assert.Equal(503, response.Status);
    }

    /// <summary>The gateway answers health checks, and every held socket answers a ping and receives an admin send.</summary>
    private async Task AssertAliveAndEverySocketWorksAsync(IReadOnlyList<WsClient> clients, string prefix)
    {
        using var health = await Gateway.Http.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);

        await Task.WhenAll(clients.Select(async client =>
        {
            await client.SendTextAsync("{\"event\":\"ping\"}");
            Assert.Equal("{\"event\":\"pong\"}", await client.ReceiveTextAsync());
        }));

        var payload = $"{{\"event\":\"all\",\"id\":\"{Guid.NewGuid():N}\"}}";
        var users = JsonSerializer.Serialize(clients.Select((_, i) => $"{prefix}-{i}"));
        var receipt = DeliveryReceipt.Parse(await Gateway.Admin.SendAsync($"{{\"users\":{users},\"payload\":{payload}}}"));
        Assert.Equal(new DeliveryReceipt(clients.Count, clients.Count, 0), receipt);
        var received = await Task.WhenAll(clients.Select(client => client.ReceiveTextAsync()));
        Assert.All(received, text => Assert.Equal(payload, text));
    }

    [GeneratedRegex(@"at most (\d+) WebSocket connections \(open-file limit (\d+), (\d+) open at start-up\)")]
    private static partial Regex AtMost();

    /// <summary>A gateway started under <c>ulimit -n 512</c>.</summary>
    public sealed class Fixture : GatewayFixture
    {
        protected override void Configure(GatewayProcessOptions options)
        {
            ArgumentNullException.ThrowIfNull(options);
            options.FileDescriptorLimit = FileLimit;
        }
    }
}
