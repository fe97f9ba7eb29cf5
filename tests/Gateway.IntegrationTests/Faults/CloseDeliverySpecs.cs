using System.Net.WebSockets;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Faults;

/// <summary>
/// Issue 14, finding 2, and docs/protocol.md "What a close delivers and what it discards": every message the
/// gateway read before a close it decided (admin close, ping deadline) reaches the app in order before the
/// connection's <c>close</c>, as a gap-free prefix of what the client sent; what it had not read is discarded
/// whole; and the inbound budget the discarded and the delivered messages held is all given back.
/// </summary>
public sealed class CloseDeliverySpecs(CloseDeliverySpecs.Fixture fixture, ITestOutputHelper output)
    : GatewaySpec(fixture.Host, output), IClassFixture<CloseDeliverySpecs.Fixture>
{
    private const int PendingLimit = 64 * 1024;
    private const int MessageBytes = 8 * 1024;
    private const int Messages = 80;

    [Fact]
    public async Task An_admin_close_while_the_app_answers_503_delivers_what_was_read_in_order_then_close_and_frees_the_budget()
    {
        var user = UniqueUser("adminclose");
        App.StatusCode = 503;
        string connId;
        try
        {
            var (client, open) = await ConnectAndOpenAsync(user);
            connId = open.ConnId!;

            // Sends without waiting: the gateway stops reading once PendingLimit waits for the app.
            var sending = Task.Run(async () =>
            {
                for (var i = 0; i < Messages; i++)
                {
                    await client.Socket.SendAsync(Message(i), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
                }
            });
            await Wait.UntilAsync(
                async () => await Gateway.Admin.MetricAsync("gateway_inbound_pending_bytes") >= PendingLimit,
                TestTimeouts.Long,
                "the gateway to stop reading the socket (64 KiB waiting for the app)");

            var closed = await Gateway.Admin.CloseAsync($"{{\"conns\":[{Quote(connId)}]}}");
            Assert.Equal(System.Net.HttpStatusCode.OK, closed.Status);
            Assert.Equal(1000, (await client.WaitForCloseAsync()).Code);
            await IgnoreSendFailureAsync(sending);
        }
        finally
        {
            App.StatusCode = 200;
        }

        await App.WaitForActionAsync(connId, "close", TestTimeouts.Long);
        var delivered = DeliveredEvents(connId);
        var read = delivered.Count - 2;
        Output.WriteLine($"{read} of {Messages} messages were read before the close");
        Assert.InRange(read, 1, Messages - 1);
        Assert.Equal(["open", .. Enumerable.Range(0, read).Select(i => $"message {i}"), "close"], delivered);
        await Wait.UntilAsync(async () => await Gateway.Admin.MetricAsync("gateway_inbound_pending_bytes") == 0, TestTimeouts.Long, "the inbound budget to be given back");
    }

    [Fact]
    public async Task A_ping_timeout_delivers_every_message_read_before_it_then_close()
    {
        // Only JSON pings are liveness here, and the deadline is short, so it passes soon after the five messages.
        var host = await StartOwnGatewayAsync(o => o.With("Tapr", "PingTimeout", "00:00:03").With("Tapr", "AnyFrameIsLiveness", "false"));
        var user = UniqueUser("deadline");

        // The messages go out at once, not after the open callback: the deadline runs from the connection actor's
        // start, and a loaded machine may deliver the open late.
        var client = await ConnectAsync(user, host: host);
        for (var i = 0; i < 5; i++)
        {
            await client.SendAsync(Message(i), WebSocketMessageType.Text);
        }

        var connId = (await host.App.WaitForOpenAsync(user)).ConnId!;

        Assert.Equal(4000, (await client.WaitForCloseAsync(TestTimeouts.Long)).Code);
        await host.App.WaitForActionAsync(connId, "close", TestTimeouts.Long);
        Assert.Equal(["open", .. Enumerable.Range(0, 5).Select(i => $"message {i}"), "close"], DeliveredEvents(host.App, connId));
    }

    private static async Task IgnoreSendFailureAsync(Task sending)
    {
        try
        {
            await sending.WaitAsync(TestTimeouts.Long);
        }
        catch (WebSocketException)
        {
            // The gateway closed the socket under the sender: expected here.
        }
    }

    /// <summary>The connection's events, each delivery attempt that got 200 once, in order of first delivery.</summary>
    private List<string> DeliveredEvents(string connId) => DeliveredEvents(App, connId);

    private static List<string> DeliveredEvents(AppServer app, string connId) =>
        app.ForConnection(connId).Where(r => r.Delivered)
            .Select(r => r.Action == "message" ? "message " + r.Json!.Value.GetProperty("data").GetProperty("n").GetInt32() : r.Action!)
            .Distinct().ToList();

    private static byte[] Message(int n) => PaddedJson.NumberedBytes("bulk", n, MessageBytes);

    /// <summary>A gateway that stops reading a socket once 64 KiB of it wait for the app and retries quickly.</summary>
    public sealed class Fixture : GatewayFixture
    {
        protected override void Configure(GatewayProcessOptions options)
        {
            ArgumentNullException.ThrowIfNull(options);
            options
                .With("Limits", "InboundPendingBytesPerConnection", PendingLimit.ToString(System.Globalization.CultureInfo.InvariantCulture))
                .With("Callback", "RetryBaseDelay", "00:00:00.050")
                .With("Callback", "RetryMaxDelay", "00:00:00.200");
        }
    }
}
