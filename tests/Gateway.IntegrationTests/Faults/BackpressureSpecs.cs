using System.Diagnostics;
using System.Net.WebSockets;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Faults;

/// <summary>
/// PROTOCOL.md §2: while the app is down the gateway applies backpressure (stops reading the socket)
/// within bounded memory rather than dropping client messages.
/// </summary>
public sealed class BackpressureSpecs(BackpressureSpecs.Fixture fixture, ITestOutputHelper output)
    : GatewaySpec(fixture.Host, output), IClassFixture<BackpressureSpecs.Fixture>
{
    private const int PendingLimit = 64 * 1024;
    private const int MessageBytes = 16 * 1024;
    private const int MaxMessages = 8192; // 128 MiB: far more than any buffering between the client and the gateway

    // Long enough that a stall of a loaded machine in the sender is not taken for the gateway's backpressure.
    private static readonly TimeSpan StallWindow = TestTimeouts.Dilated(TimeSpan.FromSeconds(2));

    [Fact]
    public async Task A_client_that_keeps_sending_to_a_down_app_is_no_longer_read_and_loses_nothing()
    {
        var user = UniqueUser("flood");
        await App.StopAsync();
        long sent = 0;
        var stop = 0;
        Task sender;
        var client = await ConnectAsync(user);
        try
        {
            // Sends without a timeout: a send that stalls must stay pending, not abort the socket.
            sender = Task.Run(async () =>
            {
                for (var i = 0; i < MaxMessages && Volatile.Read(ref stop) == 0; i++)
                {
                    await client.Socket.SendAsync(Message(i), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
                    Interlocked.Increment(ref sent);
                }
            });

            await WaitForStallAsync(() => Interlocked.Read(ref sent), sender);
            var stalledAt = Interlocked.Read(ref sent);
            Output.WriteLine($"sends stalled after {stalledAt} messages ({stalledAt * MessageBytes / 1024} KiB)");
            Assert.False(sender.IsCompleted, $"every one of the {MaxMessages} messages was read while the app was down");

            // Only what one connection may have waiting for the app, plus the message that crossed the bound.
            for (var probe = 0; probe < 3; probe++)
            {
                var pending = await Gateway.Admin.MetricAsync("gateway_inbound_pending_bytes");
                Assert.InRange(pending, 1, PendingLimit + MessageBytes);
            }

            Assert.Equal(stalledAt, Interlocked.Read(ref sent));
        }
        finally
        {
            Volatile.Write(ref stop, 1);
            await App.StartAsync();
        }

        await Wait.ForAsync(sender.ContinueWith(_ => true, TaskScheduler.Default), TestTimeouts.Long, "the stalled send to complete once the app is back");
        await sender;
        var total = (int)Interlocked.Read(ref sent);
        await client.CloseAsync();

        var records = await App.WaitUntilAsync(
            all => CallbackAttempts.FirstDeliveries(all.Where(r => r.UserName == user), Describe).Count == total + 2,
            TestTimeouts.Long,
            $"open, {total} messages and close");
        var mine = records.Where(r => r.UserName == user).ToList();
        Assert.Equal(["open", .. Enumerable.Range(0, total).Select(i => "message " + i), "close"], CallbackAttempts.FirstDeliveries(mine, Describe));
        CallbackAttempts.AssertOnlyTimedOutAttemptsRepeat(mine, Describe);
        Assert.Equal(0, await Gateway.Admin.MetricAsync("gateway_inbound_pending_bytes"));
    }

    [Fact]
    public async Task A_client_that_leaves_while_it_is_not_read_is_seen_gone_before_the_app_is_back()
    {
        var user = UniqueUser("leaver");
        var (client, open) = await ConnectAndOpenAsync(user);
        var id = open.ConnId!;
        await App.StopAsync();
        try
        {
            // More than may wait for the app: the gateway stops handing this socket's bytes over and holds back.
            for (var i = 0; i < (PendingLimit / MessageBytes) + 2; i++)
            {
                await client.SendTextAsync(PaddedJson.Numbered("bulk", i, MessageBytes));
            }

            await Wait.UntilAsync(
                async () => await Gateway.Admin.MetricAsync("gateway_inbound_pending_bytes") >= PendingLimit,
                TestTimeouts.Long,
                "the connection's bytes to fill what may wait for the app");
            Assert.Contains(id, (await Gateway.Admin.ListAsync()).Text, StringComparison.Ordinal);

            // The client goes away without a close frame. Its socket is seen gone while the app is still down: the read
            // loop, holding back, still reads far enough to see the end of the connection.
            client.Abort();
            await Wait.UntilAsync(
                async () => !(await Gateway.Admin.ListAsync()).Text.Contains(id, StringComparison.Ordinal),
                TestTimeouts.Long,
                "the gone client's connection to end while the app is down");
        }
        finally
        {
            await App.StartAsync();
        }

        var close = await App.WaitForAsync(r => r.UserName == user && r.Action == "close" && r.Delivered, TestTimeouts.Long, "the close callback once the app is back");
        Assert.Equal(user, close.UserName);
    }

    /// <summary>Waits until <paramref name="progress"/> has not moved for <see cref="StallWindow"/> (or <paramref name="sender"/> ended).</summary>
    private static async Task WaitForStallAsync(Func<long> progress, Task sender)
    {
        var last = -1L;
        var unchanged = Stopwatch.StartNew();
        await Wait.UntilAsync(
            () =>
            {
                var now = progress();
                if (now != last)
                {
                    last = now;
                    unchanged.Restart();
                }

                return sender.IsCompleted || (now > 0 && unchanged.Elapsed >= StallWindow);
            },
            TestTimeouts.Long,
            "the client's sends to stall");
    }

    private static byte[] Message(int n) => PaddedJson.NumberedBytes("bulk", n, MessageBytes);

    private static string Describe(RecordedCallback callback) =>
        callback.Action == "message" ? "message " + callback.Json!.Value.GetProperty("data").GetProperty("n").GetInt32() : callback.Action!;

    /// <summary>A gateway that stops reading a socket once 64 KiB of it wait for the app; quick retries.</summary>
    public sealed class Fixture : GatewayFixture
    {
        protected override void Configure(GatewayProcessOptions options)
        {
            ArgumentNullException.ThrowIfNull(options);
            options
                .With("Limits", "InboundPendingBytesPerConnection", PendingLimit.ToString(System.Globalization.CultureInfo.InvariantCulture))
                .With("Callback", "RetryBaseDelay", "00:00:00.050")
                .With("Callback", "RetryMaxDelay", "00:00:00.500");
        }
    }
}
