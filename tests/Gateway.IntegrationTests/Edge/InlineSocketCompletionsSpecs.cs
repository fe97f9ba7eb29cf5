using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Edge;

/// <summary>
/// The gateway runs socket completions inline on the runtime's socket event threads
/// (<c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c>, set at start unless the environment sets it; configuration.md,
/// "Runtime"). The runtime then runs one event thread per core, where it otherwise runs one per 30 cores, so the
/// gateway's threads named <c>.NET Sockets</c> show which mode the runtime took. Either way a client's message reaches
/// the app and the app's send reaches the client.
/// </summary>
[Collection(SharedGatewayCollection.Name)]
public sealed class InlineSocketCompletionsSpecs(SharedGatewayFixture fixture, ITestOutputHelper output) : GatewaySpec(fixture.Host, output)
{
    private const string Variable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

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
        var own = await StartOwnGatewayAsync(o => o.Environment[Variable] = value, $"gateway with {Variable}={value ?? "(unset)"}");
        var user = UniqueUser("inline");
        var (client, open) = await ConnectAndOpenAsync(user, host: own);

        await client.SendTextAsync("{\"event\":\"chat\",\"n\":1}");
        var message = await own.App.WaitForActionAsync(open.ConnId!, "message");
        var response = await own.Gateway.Admin.SendAsync($"{{\"conn_id\":\"{open.ConnId}\",\"payload\":{{\"event\":\"reply\"}}}}");

        Assert.Equal("{\"event\":\"chat\",\"n\":1}", message.DataJson);
        Assert.Equal("{\"code\":0,\"data\":{\"matched\":1,\"enqueued\":1,\"dropped\":0},\"message\":\"success\"}", response.Text);
        Assert.Equal("{\"event\":\"reply\"}", await client.ReceiveTextAsync());
        var expected = inline ? Environment.ProcessorCount : Math.Max(1, (int)Math.Round(Environment.ProcessorCount / 30.0));
        Assert.Equal(expected, SocketEventThreads(own.Gateway.ProcessId));
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
