using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Gateway.Benchmarks.App;
using Gateway.Benchmarks.Client;
using Gateway.Benchmarks.Orchestration;
using Gateway.Benchmarks.Wire;

namespace Gateway.Benchmarks.Scenarios;

/// <summary>What the orchestrator sent in one fan-out phase, and what the gateway's receipts said.</summary>
internal sealed class SendResult
{
    public long Sends;
    public long Failed;
    public long Matched;
    public long Enqueued;
    public long Dropped;
    public long StartTs;
    public long EndTs;

    public double Seconds => (EndTs - StartTs) / (double)Stopwatch.Frequency;
}

/// <summary>
/// The fan-out phases shared by <c>fanout</c> and <c>slow</c>: M admin sends, each to every user (one
/// send listing them all) or, with <c>target users</c>, send s to user s mod U (or to the group of K
/// consecutive users numbered s mod U/K, with K users per send); at full speed with a
/// bound on sends in flight, or at a fixed rate. Every payload carries its sequence number and the
/// time just before it was posted.
/// </summary>
internal static class FanoutDriver
{
    private static readonly byte[] StubReceipt =
        "{\"code\":0,\"message\":\"success\",\"data\":{\"matched\":0,\"enqueued\":0,\"dropped\":0}}"u8.ToArray();

    private static Task? _driverWarmedUp;

    /// <summary>
    /// Once per orchestrator process, before the first server starts: <c>--driver-warmup</c> sends (default 300; 0:
    /// off) through this process's own send path (the loop below, at full speed and paced, <see cref="HttpClient"/>,
    /// the receipt's parse) to a stub admin API in this process, which no server sees. The tool runs untiered, so each
    /// method is compiled, optimized, at its first call: without this, the first server measured (the gateway, with
    /// <c>--peer</c>) has its cold phase driven by the tool's first-ever sends, compiled as they go, and every later
    /// server by a warm tool.
    /// </summary>
    public static Task WarmUpDriverAsync(BenchmarkOptions options, string target, int users, int usersPerSend, int concurrency, int payloadBytes) =>
        _driverWarmedUp ??= WarmUpDriverCoreAsync(DriverWarmUpSends(options), target, users, usersPerSend, concurrency, payloadBytes);

    /// <summary>The <c>--driver-warmup</c> sends (default 300; 0: off), as <see cref="WarmUpDriverAsync"/> makes them.</summary>
    public static int DriverWarmUpSends(BenchmarkOptions options) => options.Int("driver-warmup", 300);

    private static async Task WarmUpDriverCoreAsync(int sends, string target, int users, int usersPerSend, int concurrency, int payloadBytes)
    {
        if (sends <= 0)
        {
            return;
        }

        var (stub, address) = await LoopbackKestrel.StartAsync(0, async context =>
        {
            // Answered as the gateway answers (a Content-Length, not chunked), so the client reads it the same way.
            await context.Request.Body.CopyToAsync(Stream.Null).ConfigureAwait(false);
            context.Response.ContentType = "application/json";
            context.Response.ContentLength = StubReceipt.Length;
            await context.Response.Body.WriteAsync(StubReceipt).ConfigureAwait(false);
        }).ConfigureAwait(false);
        await using var _ = stub;
        using var http = GatewayServer.AdminClient(address);

        // Most at full speed, a few paced (the rate's wait), as the phases send.
        var paced = Math.Min(20, sends / 10);
        var result = new SendResult();
        Task<(long Matched, long Enqueued, long Dropped)?> Send(byte[] body, CancellationToken cancellationToken) =>
            GatewayServer.SendAsync(http, body, cancellationToken);
        await SendAllAsync(Send, sends - paced, target, users, usersPerSend, 0, concurrency, payloadBytes, 30, result).ConfigureAwait(false);
        if (paced > 0)
        {
            await SendAllAsync(Send, paced, target, users, usersPerSend, 1000, concurrency, payloadBytes, 30, result).ConfigureAwait(false);
        }

        if (result.Failed > 0)
        {
            Progress.Write(
                $"driver warm-up: {result.Failed} of {sends} sends to the stub failed; the first server's cold phase may carry the tool's first sends");
        }

        await stub.StopAsync().ConfigureAwait(false);
    }

    public static async Task<(PhaseResult Phase, SendResult Sends, JsonObject Cpu)> RunPhaseAsync(
        Testbed bed, int phase, int messages, string target, double rate, int concurrency, int payloadBytes, int usersPerSend = 1)
    {
        var users = bed.Spec.Users;
        var begin = new ClientCommand { Cmd = "expect", Phase = phase, Messages = messages, Target = target, UsersPerSend = usersPerSend };
        var sends = new SendResult();
        var cpuStart = bed.Cpu();
        Progress.Write($"{bed.Spec.Name}: phase {phase}: {messages} sends to {(target == "users" && usersPerSend > 1 ? $"{usersPerSend} users each" : target)}" + (rate > 0 ? FormattableString.Invariant($" at {rate:F1}/s") : $" at full speed ({concurrency} in flight)"));
        var result = await bed.RunPhaseAsync(begin, () => SendAllAsync(bed.Gateway.SendAsync, messages, target, users, usersPerSend, rate, concurrency, payloadBytes, bed.Options.Double("send-timeout", 120), sends)).ConfigureAwait(false);
        var cpu = Testbed.CpuJson(cpuStart, bed.Cpu());
        Progress.Write($"{bed.Spec.Name}: phase {phase}: {result.Received} received of {result.Received + result.Missing}, {result.Received / result.Seconds:N0}/s, p99 {result.Latency.Percentile(99) / 1000.0:F1} ms");
        return (result, sends, cpu);
    }

    /// <summary>Deliveries one send makes: a connection of every user, or of the users it names.</summary>
    public static double DeliveriesPerSend(int connections, int users, string target, int usersPerSend = 1) =>
        target == "users" ? connections * usersPerSend / (double)users : connections;

    public static JsonObject SendJson(SendResult sends) => new()
    {
        ["sends"] = sends.Sends,
        ["failed"] = sends.Failed,
        ["seconds"] = Report.Round(sends.Seconds, 3),
        ["sendsPerSec"] = Report.Round(sends.Sends / Math.Max(sends.Seconds, 1e-9)),
        ["matched"] = sends.Matched,
        ["enqueued"] = sends.Enqueued,
        ["dropped"] = sends.Dropped,
    };

    private static async Task SendAllAsync(Func<byte[], CancellationToken, Task<(long Matched, long Enqueued, long Dropped)?>> send, int messages, string target, int users, int usersPerSend, double rate, int concurrency, int payloadBytes, double sendTimeoutSeconds, SendResult result)
    {
        var allUsers = Encoding.UTF8.GetBytes("{\"users\":[" + string.Join(',', Enumerable.Range(0, users).Select(u => $"\"{ClientProtocol.UserName(u)}\"")) + "],\"payload\":");
        using var inFlight = new SemaphoreSlim(Math.Max(1, concurrency));
        var tasks = new List<Task>(messages);

        // However the gateway behaves, sending ends: what is not sent by then counts as failed.
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(sendTimeoutSeconds + (rate > 0 ? messages / rate : 0)));
        result.StartTs = Stopwatch.GetTimestamp();
        for (var sequence = 0; sequence < messages; sequence++)
        {
            try
            {
                if (rate > 0)
                {
                    var due = result.StartTs + (long)(sequence * Stopwatch.Frequency / rate);
                    var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                    if (wait > TimeSpan.FromMilliseconds(1))
                    {
                        await Task.Delay(wait, deadline.Token).ConfigureAwait(false);
                    }
                }

                await inFlight.WaitAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                Progress.Write($"sending stopped at the deadline after {sequence} of {messages} sends");
                lock (result)
                {
                    result.Failed += messages - sequence;
                }

                break;
            }

            var prefix = target == "users" ? GroupPrefix(ClientProtocol.GroupOfSend(sequence, users, usersPerSend), usersPerSend) : allUsers;
            tasks.Add(SendOneAsync(send, prefix, sequence, payloadBytes, result, inFlight, deadline.Token));
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
        result.EndTs = Stopwatch.GetTimestamp();
    }

    private static byte[] GroupPrefix(int group, int usersPerSend) => Encoding.UTF8.GetBytes(
        "{\"users\":[" + string.Join(',', Enumerable.Range(group * usersPerSend, usersPerSend).Select(u => $"\"{ClientProtocol.UserName(u)}\"")) + "],\"payload\":");

    private static async Task SendOneAsync(Func<byte[], CancellationToken, Task<(long Matched, long Enqueued, long Dropped)?>> send, byte[] prefix, long sequence, int payloadBytes, SendResult result, SemaphoreSlim inFlight, CancellationToken cancellationToken)
    {
        try
        {
            var body = new byte[prefix.Length + Payload.Capacity(payloadBytes) + 1];
            prefix.CopyTo(body, 0);
            var length = prefix.Length + Payload.Write(body.AsSpan(prefix.Length), sequence, Stopwatch.GetTimestamp(), payloadBytes);
            body[length++] = (byte)'}';
            var receipt = await send(body[..length], cancellationToken).ConfigureAwait(false);
            lock (result)
            {
                result.Sends++;
                if (receipt is { } r)
                {
                    result.Matched += r.Matched;
                    result.Enqueued += r.Enqueued;
                    result.Dropped += r.Dropped;
                }
                else
                {
                    result.Failed++;
                }
            }
        }
        finally
        {
            inFlight.Release();
        }
    }
}
