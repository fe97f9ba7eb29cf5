using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Edge;

/// <summary>
/// Issue 10, finding 1: memory follows the bytes that arrived, never a length a frame header declares; the
/// inbound budget (<c>Gateway:Limits:InboundPendingBytesTotal</c>) bounds messages that are still arriving; and
/// no client can make an allocation fail the process.
/// </summary>
public sealed class InboundMemorySpecs(ITestOutputHelper output) : GatewaySpec(output)
{
    private const int TaprSockets = 200;
    private const int JacSockets = 20;
    private const int PayloadSent = 1000;

    [Fact]
    public async Task Frame_headers_declaring_large_messages_cost_no_memory_under_a_128_MiB_heap_cap()
    {
        // The cap .NET applies by itself in a container with a memory limit: an allocation sized by the
        // declared lengths (200 MB, plus 320 MB on /websocket) cannot fit.
        var host = await StartOwnGatewayAsync(o => o.Environment["DOTNET_GCHeapHardLimit"] = "0x8000000", "gateway with a 128 MiB heap");
        var residentBefore = host.Gateway.ResidentBytes();
        var sockets = new List<RawWebSocket>();

        for (var i = 0; i < TaprSockets + JacSockets; i++)
        {
            var jac = i >= TaprSockets;
            var socket = Track(await RawWebSocket.ConnectAsync(host.Gateway.Port, jac ? "/websocket" : "/ws", "X-Bfl-User: declared"));
            sockets.Add(socket);

            // A text frame declaring 1,000,000 bytes (16,000,000 on /websocket, under its 16 MiB limit), then only 1000 of them.
            var header = RawWebSocket.Frame(0x81, new byte[PayloadSent], declaredLength: jac ? 16_000_000 : 1_000_000);
            await socket.SendAsync(header);
        }

        // The gateway counts the bytes of messages still arriving: once it has them all, every header was read.
        await Wait.UntilAsync(
            async () => await host.Gateway.Admin.MetricAsync("gateway_inbound_pending_bytes") >= (TaprSockets + JacSockets) * PayloadSent,
            TestTimeouts.Long,
            "the gateway to have read every partial message");
        var residentAfter = host.Gateway.ResidentBytes();
        var list = await host.Gateway.Admin.ListAsync();
        await using var client = await WsClient.ConnectAsync(host.Gateway.WebSocketUri(), UniqueUser("bystander"));
        await client.SendTextAsync("{\"event\":\"ping\"}");

        Assert.Equal("{\"event\":\"pong\"}", await client.ReceiveTextAsync());
        Assert.Equal(System.Net.HttpStatusCode.OK, list.Status);
        Assert.StartsWith("{\"code\":0,", list.Text, StringComparison.Ordinal);
        Assert.False(host.Gateway.HasExited);
        Assert.True(residentAfter - residentBefore < 48 * 1024 * 1024, $"resident memory grew by {(residentAfter - residentBefore) / 1024.0 / 1024:F1} MiB for {TaprSockets + JacSockets} declared messages");
    }

    [Fact]
    public async Task Partial_messages_are_bounded_by_the_inbound_budget_and_refused_with_1013_when_it_is_all_theirs()
    {
        const int Budget = 1024 * 1024;
        const int Senders = 6;
        var host = await StartOwnGatewayAsync(o => o.With("Limits", "InboundPendingBytesTotal", Budget.ToString(System.Globalization.CultureInfo.InvariantCulture)), "gateway with a 1 MiB inbound budget");
        var sockets = new List<RawWebSocket>();
        for (var i = 0; i < Senders; i++)
        {
            sockets.Add(Track(await RawWebSocket.ConnectAsync(host.Gateway.Port, "/ws", $"X-Bfl-User: {UniqueUser("partial")}")));
        }

        // Each declares 1,000,000 bytes and sends 400,000: together 2.4 MB of messages that never complete,
        // more than twice the budget; nothing waits for the app, so no callback will ever make room.
        var partial = RawWebSocket.Frame(0x81, new byte[400_000], declaredLength: 1_000_000);
        await Task.WhenAll(sockets.Select(s => s.SendAsync(partial)));
        var closes = await Task.WhenAll(sockets.Select(ReadCloseOrNullAsync));
        var pending = await host.Gateway.Admin.MetricAsync("gateway_inbound_pending_bytes");

        Assert.Contains(closes, c => c?.CloseCode == 1013);

        // Each socket may overshoot by the one read it was granted last (the transport reads ahead up to 64 KiB).
        Assert.True(pending <= Budget + (Senders * 128 * 1024), $"{pending} bytes of partial messages held under a budget of {Budget}");
        await using var client = await WsClient.ConnectAsync(host.Gateway.WebSocketUri(), UniqueUser("bystander"));
        await client.SendTextAsync("{\"event\":\"ping\"}");
        Assert.Equal("{\"event\":\"pong\"}", await client.ReceiveTextAsync());
    }

    /// <summary>The close frame the socket receives within a short window, or null if it is still open (it holds its part of the budget).</summary>
    private static async Task<RawFrame?> ReadCloseOrNullAsync(RawWebSocket socket)
    {
        try
        {
            return await socket.ReadUntilCloseAsync(TestTimeouts.Dilated(TimeSpan.FromSeconds(3)));
        }
        catch (TimeoutException)
        {
            return null;
        }
    }
}
