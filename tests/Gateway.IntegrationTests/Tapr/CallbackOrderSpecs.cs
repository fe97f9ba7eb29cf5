using System.Diagnostics;
using System.Globalization;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Tapr;

/// <summary>PROTOCOL.md §2 reliability: strict order per connection (open, messages in order, one close) while connections run in parallel.</summary>
[Collection(SharedGatewayCollection.Name)]
public sealed class CallbackOrderSpecs(SharedGatewayFixture fixture, ITestOutputHelper output) : GatewaySpec(fixture.Host, output)
{
    private const int Connections = 20;
    private const int MessagesPerConnection = 200;

    [Fact]
    public async Task Under_load_each_connections_callbacks_arrive_in_order()
    {
        var prefix = UniqueUser("load");
        var clients = new List<(WsClient Client, string User)>();
        for (var c = 0; c < Connections; c++)
        {
            var user = $"{prefix}-{c}";
            clients.Add((await ConnectAsync(user, cookie: $"auth_token={user}"), user));
        }

        var watch = Stopwatch.StartNew();

        // Sending starts at once, before the open callbacks are through: they must still come first.
        await Task.WhenAll(clients.Select(async c =>
        {
            for (var i = 0; i < MessagesPerConnection; i++)
            {
                await c.Client.SendTextAsync(Frame(c.User, i));
            }
        }));
        var opens = await App.WaitForCountAsync(Connections, r => r.Action == "open" && r.UserName!.StartsWith(prefix + "-", StringComparison.Ordinal));
        var connIds = clients.ToDictionary(c => c.User, c => opens.Single(o => o.UserName == c.User).ConnId!);
        var ids = connIds.Values.ToHashSet();
        await App.WaitUntilAsync(
            records => records.Count(r => r.Action == "message" && ids.Contains(r.ConnId!)) >= Connections * MessagesPerConnection,
            TestTimeouts.Long,
            $"{Connections * MessagesPerConnection} message callbacks");
        Output.WriteLine($"{Connections * MessagesPerConnection} messages delivered in {watch.Elapsed}");

        await Task.WhenAll(clients.Select(c => c.Client.CloseAsync()));
        await App.WaitUntilAsync(records => records.Count(r => r.Action == "close" && ids.Contains(r.ConnId!)) >= Connections, TestTimeouts.Long, "the close callbacks");

        foreach (var (_, user) in clients)
        {
            var callbacks = App.ForConnection(connIds[user]);
            var expected = new List<string> { "open" };
            expected.AddRange(Enumerable.Range(0, MessagesPerConnection).Select(i => "message " + Frame(user, i)));
            expected.Add("close");
            var actual = callbacks.Select(c => c.Action == "message" ? "message " + c.DataJson : c.Action!).ToList();
            Assert.Equal(expected, actual);
            Assert.All(callbacks, c => Assert.Equal($"auth_token={user}", c.Cookie));
        }

        // Connections really ran in parallel: callbacks of different connections interleave.
        var messageOwners = App.Requests.Where(r => r.Action == "message" && ids.Contains(r.ConnId!)).Select(r => r.ConnId).ToList();
        var switches = messageOwners.Zip(messageOwners.Skip(1)).Count(pair => pair.First != pair.Second);
        Assert.True(switches >= Connections, $"expected interleaved connections, saw {switches} switches");
    }

    private static string Frame(string user, int seq) =>
        string.Create(CultureInfo.InvariantCulture, $"{{\"event\":\"seq\",\"user\":\"{user}\",\"n\":{seq}}}");
}
