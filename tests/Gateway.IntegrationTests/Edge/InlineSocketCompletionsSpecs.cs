using Gateway.Hosting;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Edge;

/// <summary>
/// The gateway runs socket completions inline on the runtime's socket event threads
/// (<c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c>, set at start unless the environment sets it; configuration.md,
/// "Shutdown, sockets, memory"). The runtime then runs one event thread per core, where it otherwise runs one per 30
/// cores (x64; fewer per thread on Arm), so the gateway's threads named <c>.NET Sockets</c> show which mode the runtime
/// took. Either way a client's message (a small one, and one large enough to be parsed on the thread pool) reaches the
/// app, and the app's send reaches the client.
/// </summary>
[Collection(SharedGatewayCollection.Name)]
public sealed class InlineSocketCompletionsSpecs(SharedGatewayFixture fixture, ITestOutputHelper output) : GatewaySpec(fixture.Host, output)
{
    /// <summary>The runtime's override of the event thread count, which would hide the mode: cleared for these gateways.</summary>
    private const string ThreadCount = "DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT";

    /// <summary>
    /// <paramref name="value"/> null: the variable is removed from the gateway's environment, so the gateway's default
    /// applies. (On a single core both modes run one event thread, and the count cannot tell them apart.)
    /// </summary>
    [Theory]
    [InlineData(null, true)]
    [InlineData("1", true)]
    [InlineData("0", false)]
    public async Task Socket_completions_run_inline_unless_the_environment_turns_them_off(string? value, bool inline)
    {
        var own = await StartOwnGatewayAsync(
            o =>
            {
                o.Environment[InlineSocketCompletions.Variable] = value;
                o.Environment[ThreadCount] = null;
            },
            $"gateway with {InlineSocketCompletions.Variable}={value ?? "(unset)"}");
        var user = UniqueUser("inline");
        var (client, open) = await ConnectAndOpenAsync(user, host: own);
        var large = $"{{\"event\":\"large\",\"text\":\"{new string('x', 200_000)}\"}}";

        await client.SendTextAsync("{\"event\":\"chat\",\"n\":1}");
        await client.SendTextAsync(large);
        var messages = await own.App.WaitForCountAsync(2, c => c.ConnId == open.ConnId && c.Action == "message");
        var response = await own.Gateway.Admin.SendAsync($"{{\"conn_id\":\"{open.ConnId}\",\"payload\":{{\"event\":\"reply\"}}}}");

        Assert.Equal(["{\"event\":\"chat\",\"n\":1}", large], messages.Select(c => c.DataJson));
        Assert.Equal("{\"code\":0,\"data\":{\"matched\":1,\"enqueued\":1,\"dropped\":0},\"message\":\"success\"}", response.Text);
        Assert.Equal("{\"event\":\"reply\"}", await client.ReceiveTextAsync());
        var threads = SocketEventThreads(own.Gateway.ProcessId);
        if (inline)
        {
            Assert.Equal(Environment.ProcessorCount, threads);
        }
        else
        {
            // The runtime's own count: one per 30 cores on x64, per 8 or 12 on Arm; always fewer than the cores from 2 up.
            Assert.True(threads >= 1 && (threads < Environment.ProcessorCount || Environment.ProcessorCount == 1), $"{threads} event threads on {Environment.ProcessorCount} cores");
        }
    }

    /// <summary>Threads of <paramref name="pid"/> that the runtime named <c>.NET Sockets</c> (its epoll event loops).</summary>
    private static int SocketEventThreads(int pid) =>
        Directory.GetDirectories($"/proc/{pid}/task").Count(task => ThreadName(task) == ".NET Sockets");

    private static string? ThreadName(string task)
    {
        try
        {
            return File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n');
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return null; // the thread ended meanwhile (a pool thread retiring)
        }
    }
}
