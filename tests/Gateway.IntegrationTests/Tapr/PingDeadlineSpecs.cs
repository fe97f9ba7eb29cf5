using System.Diagnostics;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Tapr;

/// <summary>A gateway whose ping deadline is 3 s instead of 45 s.</summary>
public sealed class ShortPingTimeoutFixture : GatewayFixture
{
    public static readonly TimeSpan PingTimeout = TimeSpan.FromSeconds(3);

    protected override void Configure(GatewayProcessOptions options) => options.With("Tapr", "PingTimeout", "00:00:03");
}

/// <summary>PROTOCOL.md §3 deadline: a connection with no ping for longer than the timeout is closed with 4000 "ping timeout" and the app gets <c>close</c>.</summary>
public sealed class PingDeadlineSpecs(ShortPingTimeoutFixture fixture, ITestOutputHelper output) : GatewaySpec(fixture.Host, output), IClassFixture<ShortPingTimeoutFixture>
{
    private static readonly TimeSpan Timeout = ShortPingTimeoutFixture.PingTimeout;

    // How often the live clients show they are: 2.5 s before the deadline, room for a stall of a loaded machine.
    private static readonly TimeSpan LivenessPeriod = TimeSpan.FromMilliseconds(500);

    [Fact]
    public async Task A_silent_client_is_closed_with_4000_ping_timeout_and_the_app_gets_exactly_one_close()
    {
        var user = UniqueUser("silent");

        // The deadline runs from the connection actor's start, which comes after this and before the app hears of the
        // open: a clock started on the open callback could see the close "early" by however late that callback was.
        var connected = Stopwatch.StartNew();
        var (client, open) = await ConnectAndOpenAsync(user);

        var close = await client.WaitForCloseAsync(Timeout + TestTimeouts.Default);
        var elapsed = connected.Elapsed;

        Assert.Equal(new WsClose(4000, "ping timeout", FrameReceived: true), close);

        // Not before the deadline; within the promised 1 s of slack (plus room for a loaded machine).
        Assert.InRange(elapsed, Timeout - TimeSpan.FromMilliseconds(250), Timeout + TimeSpan.FromSeconds(1) + TestTimeouts.Dilated(TimeSpan.FromSeconds(2)));
        var closeCallback = await App.WaitForActionAsync(open.ConnId!, "close");
        Assert.Equal(ExpectedCallback("close", user, open.ConnId!, open.Token!, accessPublic: true), closeCallback.BodyText);
        await App.AssertNoMoreAsync(r => r.ConnId == open.ConnId && r.Action == "close", allowed: 1, what: "close callbacks");
    }

    [Fact]
    public async Task A_client_that_pings_keeps_its_socket_past_several_timeouts_and_is_closed_a_timeout_after_its_last_ping()
    {
        var user = UniqueUser("pinger");

        // The pings start at once, not after the open callback (which a loaded machine may deliver late, while the
        // deadline runs from the connection actor's start); the open is looked up after the loop.
        var client = await ConnectAsync(user);
        var alive = Stopwatch.StartNew();

        // 2.5 timeouts, pinging every half second. The clock restarts before each ping is sent, so it never runs
        // behind the gateway's own liveness stamp (taken when the ping arrives).
        var lastPing = Stopwatch.StartNew();
        while (alive.Elapsed < Timeout * 2.5)
        {
            lastPing.Restart();
            await client.SendTextAsync("{\"event\":\"ping\"}");
            Assert.Equal("{\"event\":\"pong\"}", await client.ReceiveTextAsync());
            await Task.Delay(LivenessPeriod);
        }

        var open = await App.WaitForOpenAsync(user);
        Assert.Null(client.CloseIfEnded);
        Assert.DoesNotContain(App.ForConnection(open.ConnId!), r => r.Action is "close" or "message");
        Assert.Contains(open.ConnId!, (await Gateway.Admin.ListAsync()).Text, StringComparison.Ordinal);

        // Then silence: the deadline counts from the last ping, not from the connect.
        var close = await client.WaitForCloseAsync(Timeout + TestTimeouts.Default);
        var silence = lastPing.Elapsed;
        Assert.Equal(new WsClose(4000, "ping timeout", FrameReceived: true), close);
        Assert.InRange(silence, Timeout - TimeSpan.FromMilliseconds(250), Timeout + TimeSpan.FromSeconds(1) + TestTimeouts.Dilated(TimeSpan.FromSeconds(2)));
        await App.WaitForActionAsync(open.ConnId!, "close");
    }

    [Fact]
    public async Task Data_frames_also_count_as_liveness_by_default()
    {
        // Frames from the start, not after the open callback (see above); the open is looked up after the loop.
        var user = UniqueUser("talker");
        var client = await ConnectAsync(user);
        var alive = Stopwatch.StartNew();

        var sent = 0;
        while (alive.Elapsed < Timeout * 2)
        {
            await client.SendTextAsync($"{{\"event\":\"chat\",\"n\":{sent++}}}");
            await Task.Delay(LivenessPeriod);
        }

        var open = await App.WaitForOpenAsync(user);
        Assert.Null(client.CloseIfEnded);
        await App.WaitForCountAsync(sent, r => r.ConnId == open.ConnId && r.Action == "message");
        Assert.DoesNotContain(App.ForConnection(open.ConnId!), r => r.Action == "close");
    }

    [Fact]
    public async Task Protocol_level_pings_count_as_liveness_by_default()
    {
        var node = await StartNodeAsync();
        var user = UniqueUser("protoping");
        var client = await node.OpenAsync(Gateway.WebSocketUri(), new Dictionary<string, string> { ["X-Bfl-User"] = user });
        var alive = Stopwatch.StartNew();

        // Pings from the start, not after the open callback (see above); the open is looked up after the loop.
        var pongs = 0;
        while (alive.Elapsed < Timeout * 2)
        {
            await client.PingAsync();
            await client.WaitForPongAsync(pongs + 1);
            pongs++;
            await Task.Delay(LivenessPeriod);
        }

        var open = await App.WaitForOpenAsync(user);
        Assert.False(client.Closed.IsCompleted, "the socket closed");
        Assert.DoesNotContain(App.ForConnection(open.ConnId!), r => r.Action is "close" or "message");
    }

    [Fact]
    public async Task A_ws_library_client_that_stays_silent_sees_4000_ping_timeout()
    {
        var node = await StartNodeAsync();
        var user = UniqueUser("nodesilent");

        var client = await node.OpenAsync(Gateway.WebSocketUri(), new Dictionary<string, string> { ["X-Bfl-User"] = user });
        var open = await App.WaitForOpenAsync(user);
        var close = await client.WaitForCloseAsync(Timeout + TestTimeouts.Default);

        Assert.Equal(4000, close.Code);
        Assert.Equal("ping timeout", close.Reason);
        await App.WaitForActionAsync(open.ConnId!, "close");
    }
}
