using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Edge;

/// <summary>
/// Issue 10, tests: for a bounded time, random and truncated request heads, frames and close payloads thrown at
/// the lean path and at Kestrel's HTTP path. The process must stay up, its memory bounded, and a client connected
/// the whole time must keep being served, and nothing may be logged at error level. The seed is in the output,
/// so a failure can be replayed.
/// </summary>
public sealed class EdgeFuzzSpecs(ITestOutputHelper output) : GatewaySpec(output)
{
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(8);
    private const int Workers = 4;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Random_and_truncated_input_leaves_the_gateway_up_bounded_and_serving(bool leanPath)
    {
        var seed = Environment.TickCount;
        Output.WriteLine($"seed {seed}, lean path {leanPath}");
        var host = await StartOwnGatewayAsync(
            o => o.With("Sockets", "LeanPath", leanPath ? "true" : "false")
                .With("Limits", "InboundPendingBytesTotal", (8 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture))
                .With("Limits", "CloseHandshakeTimeout", "00:00:01"),
            leanPath ? "fuzzed gateway (lean path)" : "fuzzed gateway (HTTP path)");
        var gateway = host.Gateway;
        var rssBefore = gateway.ResidentBytes();
        await using var witness = await WsClient.ConnectAsync(gateway.WebSocketUri(), UniqueUser("witness"));

        var stop = Stopwatch.StartNew();
        var fuzzing = Enumerable.Range(0, Workers).Select(i => Task.Run(() => FuzzAsync(gateway.Port, new Random(seed + i), stop))).ToList();
        var served = 0;
        while (stop.Elapsed < Duration)
        {
            await witness.SendTextAsync("{\"event\":\"ping\"}");
            Assert.Equal("{\"event\":\"pong\"}", await witness.ReceiveTextAsync());
            served++;
        }

        var cases = (await Task.WhenAll(fuzzing)).Sum();
        Output.WriteLine($"{cases} fuzz connections, {served} witness pings answered");
        var rssAfter = gateway.ResidentBytes();
        await using var newcomer = await WsClient.ConnectAsync(gateway.WebSocketUri(), UniqueUser("newcomer"));
        await newcomer.SendTextAsync("{\"event\":\"ping\"}");

        Assert.Equal("{\"event\":\"pong\"}", await newcomer.ReceiveTextAsync());
        Assert.False(gateway.HasExited, "the gateway process ended");
        Assert.True(cases > 50, $"only {cases} fuzz connections were made");
        Assert.True(rssAfter - rssBefore < 160 * 1024 * 1024, $"resident memory grew from {rssBefore / 1048576.0:F0} MiB to {rssAfter / 1048576.0:F0} MiB");
        Assert.DoesNotContain(gateway.Output.Lines, static l => l.Contains("crit:", StringComparison.Ordinal) || l.Contains("fail:", StringComparison.Ordinal));
    }

    private static async Task<int> FuzzAsync(int port, Random random, Stopwatch clock)
    {
        var cases = 0;
        while (clock.Elapsed < Duration)
        {
            cases++;
            try
            {
                using var tcp = new TcpClient { NoDelay = true, LingerState = new LingerOption(true, 0) };
                using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await tcp.ConnectAsync("127.0.0.1", port, cancel.Token);
                var stream = tcp.GetStream();
                switch (random.Next(4))
                {
                    case 0:
                        await stream.WriteAsync(RandomHead(random), cancel.Token);
                        break;
                    default:
                        var path = random.Next(3) == 0 ? "/websocket" : "/ws";
                        await stream.WriteAsync(Encoding.ASCII.GetBytes(RawHttp.UpgradeRequest(path, port)), cancel.Token);
                        await stream.WriteAsync(RandomFrames(random), cancel.Token);
                        break;
                }

                // Read a little of the answer (a 101 and frames, or a refusal), then drop the connection.
                var buffer = new byte[4096];
                using var read = new CancellationTokenSource(TimeSpan.FromMilliseconds(random.Next(1, 50)));
                try
                {
                    while (await stream.ReadAsync(buffer, read.Token) > 0)
                    {
                    }
                }
                catch (OperationCanceledException)
                {
                }
            }
            catch (Exception exception) when (exception is IOException or SocketException or OperationCanceledException)
            {
                // The gateway may refuse or drop a connection that sends garbage: that is its right.
            }
        }

        return cases;
    }

    private static readonly string[] HeadPieces =
    [
        "GET /ws HTTP/1.1\r\n", "GET /websocket?auth=x HTTP/1.1\r\n", "GET /ws HTTP/1.0\r\n", "POST /ws HTTP/1.1\r\n", "GET  /ws HTTP/1.1\r\n",
        "Host: 127.0.0.1\r\n", "Upgrade: websocket\r\n", "Connection: Upgrade\r\n", "Sec-WebSocket-Version: 13\r\n",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "Sec-WebSocket-Protocol: a, b\r\n", "Content-Length: 5\r\n",
        "Transfer-Encoding: chunked\r\n", "Origin: https://x.example\r\n", "X-Bad: a\nb\r\n", "X-Bad: a\rb\r\n", " folded\r\n",
        "X Bad: 1\r\n", "\r\n", "hello", "5\r\nhello\r\n0\r\n\r\n", "\0", "Cookie: auth_token=t\r\n",
    ];

    /// <summary>A request head of random well-known pieces and random bytes, possibly truncated anywhere.</summary>
    private static byte[] RandomHead(Random random)
    {
        var bytes = new List<byte>();
        var pieces = random.Next(1, 14);
        for (var i = 0; i < pieces; i++)
        {
            if (random.Next(5) == 0)
            {
                var noise = new byte[random.Next(1, 64)];
                random.NextBytes(noise);
                bytes.AddRange(noise);
            }
            else
            {
                bytes.AddRange(Encoding.Latin1.GetBytes(HeadPieces[random.Next(HeadPieces.Length)]));
            }
        }

        return [.. bytes.Take(random.Next(1, bytes.Count + 1))];
    }

    /// <summary>Random frames: any first byte, masked or not, lengths true or lying (up to 2^63), close payloads of any code and reason, truncated anywhere.</summary>
    private static byte[] RandomFrames(Random random)
    {
        var bytes = new List<byte>();
        var frames = random.Next(1, 8);
        for (var i = 0; i < frames; i++)
        {
            byte first = random.Next(3) switch
            {
                0 => (byte)random.Next(256),
                1 => 0x88,
                _ => (byte)(0x80 | new[] { 0x0, 0x1, 0x2, 0x9, 0xA }[random.Next(5)]),
            };
            var payload = new byte[random.Next(3) == 0 ? random.Next(0, 200_000) : random.Next(0, 130)];
            random.NextBytes(payload);
            if (first == 0x88 && payload.Length >= 2 && random.Next(2) == 0)
            {
                var code = new[] { 1000, 1002, 1004, 1005, 1012, 1014, 1015, 2999, 3000, 4999, 5000 }[random.Next(11)];
                payload[0] = (byte)(code >> 8);
                payload[1] = (byte)code;
            }

            long? declared = random.Next(4) == 0 ? random.NextInt64(0, long.MaxValue) >> random.Next(0, 63) : null;
            bytes.AddRange(RawWebSocket.Frame(first, payload, masked: random.Next(8) != 0, declaredLength: declared));
        }

        return [.. bytes.Take(random.Next(1, bytes.Count + 1))];
    }
}
