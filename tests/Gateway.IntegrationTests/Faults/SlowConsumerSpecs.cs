using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Faults;

/// <summary>
/// PROTOCOL.md §6 4001: a client that does not read is closed once its outbound queue is over its
/// bound, without holding memory or delaying the clients that do read.
/// </summary>
public sealed class SlowConsumerSpecs(SlowConsumerSpecs.Fixture fixture, ITestOutputHelper output)
    : GatewaySpec(fixture.Host, output), IClassFixture<SlowConsumerSpecs.Fixture>
{
    private const int OutboundQueueBytes = 1024 * 1024;
    private const int PayloadBytes = 256 * 1024;
    private const int Readers = 3;
    private const int MaxRounds = 400; // 100 MiB per client: far more than the socket buffers and the queue hold
    private const int RoundsAfterDrop = 200;

    // Below what a client that was never dropped would pin: the 200 payloads sent after the drop alone are 50 MiB.
    private const long MemoryGrowthBound = 40L * 1024 * 1024;

    // Per payload: far below what waiting on a non-reader would cost, with room for a stall of a loaded machine.
    private static readonly TimeSpan Prompt = TestTimeouts.Dilated(TimeSpan.FromSeconds(5));

    [Fact]
    public async Task A_client_that_does_not_read_is_closed_with_4001_while_the_others_keep_receiving_promptly()
    {
        var prefix = UniqueUser("consumer");
        var stalled = prefix + "-stalled"; // reads nothing until it has been dropped, then reads the close
        var silent = prefix + "-silent"; // never reads at all
        var readers = Enumerable.Range(0, Readers).Select(i => $"{prefix}-reader{i}").ToList();
        var stalledClient = await ConnectAsync(stalled, receive: false);
        var silentClient = await ConnectAsync(silent, receive: false);
        var readerClients = new List<WsClient>();
        foreach (var reader in readers)
        {
            readerClients.Add(await ConnectAsync(reader));
        }

        var opens = await App.WaitForCountAsync(Readers + 2, r => r.Action == "open" && r.UserName!.StartsWith(prefix, StringComparison.Ordinal));
        var stalledId = opens.Single(o => o.UserName == stalled).ConnId!;
        var silentId = opens.Single(o => o.UserName == silent).ConnId!;
        var rssBefore = FaultsAdminReads.ResidentBytes(Gateway.ProcessId);
        var everyone = JsonSerializer.Serialize(readers.Append(stalled).Append(silent));
        var slowest = TimeSpan.Zero;

        // Every round goes to all five; the readers get each payload promptly while the other two fill up.
        var round = 0;
        DeliveryReceipt receipt;
        do
        {
            receipt = DeliveryReceipt.Parse(await Gateway.Admin.SendAsync($"{{\"users\":{everyone},\"payload\":{Payload(round)}}}"));
            slowest = Max(slowest, await ReceiveRoundAsync(readerClients, round));
            Assert.Equal(Readers + 2, receipt.Matched);
            round++;
        }
        while (receipt.Dropped < 2 && round < MaxRounds);

        Output.WriteLine($"both non-readers dropped after {round} rounds of {PayloadBytes / 1024} KiB");
        Assert.Equal(new DeliveryReceipt(Readers + 2, Readers, 2), receipt);

        // Once it reads, the stalled client finds what its socket buffers held, in order, then 4001.
        stalledClient.StartReceiving();
        var close = await stalledClient.WaitForCloseAsync();
        Assert.Equal(new WsClose(4001, "slow consumer", FrameReceived: true), close);
        var got = new List<int>();
        while (true)
        {
            try
            {
                got.Add(JsonDocument.Parse((await stalledClient.ReceiveAsync(TimeSpan.FromSeconds(1))).Data).RootElement.GetProperty("n").GetInt32());
            }
            catch (InvalidOperationException)
            {
                break; // no more: the socket has closed
            }
        }

        Assert.Equal(Enumerable.Range(0, got.Count), got);
        Assert.True(got.Count < round, $"the stalled client got all {round} payloads");

        // Both get their close callback (the silent one once the close handshake times out) and leave the list.
        await App.WaitForActionAsync(stalledId, "close");
        await App.WaitForActionAsync(silentId, "close", TestTimeouts.Long);

        // The registry unlists a connection as its actor stops, right after queueing the close callback: on a loaded
        // machine the app can see the callback a moment before, so the list is awaited, bounded.
        await Wait.UntilAsync(
            async () => (await Gateway.Admin.ListConnectionIdsAsync()) is var ids && !ids.Contains(stalledId) && !ids.Contains(silentId),
            TestTimeouts.Default,
            "both closed connections to leave the list");
        var listed = await Gateway.Admin.ListConnectionIdsAsync();
        Assert.DoesNotContain(stalledId, listed);
        Assert.DoesNotContain(silentId, listed);
        Assert.Equal(Readers, listed.Count(id => opens.Any(o => o.ConnId == id)));
        Assert.Equal(new DeliveryReceipt(0, 0, 0), DeliveryReceipt.Parse(await Gateway.Admin.SendAsync($"{{\"conn_id\":\"{stalledId}\",\"payload\":1}}")));

        // The readers go on receiving, and memory stays bounded however much goes through.
        for (var extra = 0; extra < RoundsAfterDrop; extra++, round++)
        {
            receipt = DeliveryReceipt.Parse(await Gateway.Admin.SendAsync($"{{\"users\":{everyone},\"payload\":{Payload(round)}}}"));
            Assert.Equal(new DeliveryReceipt(Readers, Readers, 0), receipt);
            slowest = Max(slowest, await ReceiveRoundAsync(readerClients, round));
        }

        var rssAfter = FaultsAdminReads.ResidentBytes(Gateway.ProcessId);
        Output.WriteLine($"RSS {rssBefore / 1024 / 1024} MiB before, {rssAfter / 1024 / 1024} MiB after {round} rounds; slowest round {slowest}");
        Assert.True(rssAfter - rssBefore < MemoryGrowthBound, $"RSS grew from {rssBefore} to {rssAfter} bytes");
        Assert.Null(readerClients.Select(c => c.CloseIfEnded).FirstOrDefault(c => c is not null));

        // The silent client's connection was dropped: it could not even be sent its close frame.
        silentClient.StartReceiving();
        var silentEnd = await silentClient.WaitForCloseAsync();
        Assert.True(!silentEnd.FrameReceived || silentEnd.Code == 4001, $"the silent client saw {silentEnd}");

        // Both cut-offs are counted, as slow consumers and as closes with 4001.
        Assert.True(await Gateway.Admin.MetricAsync("gateway_connection_slow_consumer_total") >= 2);
        await Wait.UntilAsync(
            async () => await Gateway.Admin.MetricAsync("gateway_connection_closed_total", ("gateway_close_code", "4001")) >= 2,
            what: "two closes counted under 4001");
    }

    /// <summary>Every reader receives payload <paramref name="round"/> next, within <see cref="Prompt"/>; returns the slowest wait.</summary>
    private static async Task<TimeSpan> ReceiveRoundAsync(IReadOnlyList<WsClient> readers, int round)
    {
        var waited = await Task.WhenAll(readers.Select(async reader =>
        {
            var watch = Stopwatch.StartNew();
            var message = await reader.ReceiveAsync(Prompt);
            Assert.Equal(round, JsonDocument.Parse(message.Data).RootElement.GetProperty("n").GetInt32());
            Assert.Equal(PayloadBytes, message.Data.Length);
            return watch.Elapsed;
        }));
        return waited.Max();
    }

    private static string Payload(int n) => PaddedJson.Numbered("big", n, PayloadBytes);

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    /// <summary>A gateway that allows 1 MiB queued per client and gives a close handshake 3 s.</summary>
    public sealed class Fixture : GatewayFixture
    {
        protected override void Configure(GatewayProcessOptions options)
        {
            ArgumentNullException.ThrowIfNull(options);
            options
                .With("Limits", "OutboundQueueBytes", OutboundQueueBytes.ToString(CultureInfo.InvariantCulture))
                .With("Limits", "CloseHandshakeTimeout", "00:00:03");
        }
    }
}
