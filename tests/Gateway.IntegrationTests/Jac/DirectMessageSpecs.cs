using System.Globalization;
using System.Text;

namespace Gateway.IntegrationTests.Jac;

/// <summary>
/// PROTOCOL.md §5 direct messages: <c>user</c>, <c>channel</c> and <c>client</c> events deliver <c>data</c> verbatim,
/// with no envelope and no acknowledgement, to every matching connection of either dialect.
/// </summary>
[Collection(JacGatewayCollection.Name)]
public sealed class DirectMessageSpecs(JacGatewayFixture fixture, ITestOutputHelper output) : JacSpec(fixture.Host, output)
{
    private const string Unknown = "n::ffffffffffffffffffffffff";

    /// <summary>Whitespace, key order, a float's trailing zero, an integer beyond 64 bits and an escape, all to be kept.</summary>
    private const string Data = "{ \"z\" : 1, \"a\":[1,2.50,{\"b\":null}], \"big\":123456789012345678901234567890, \"s\":\"caf\\u00e9 \u00e9\", \"type\":\"user\" }";

    [Fact]
    public async Task A_user_event_delivers_data_verbatim_to_every_connection_of_those_roots_in_either_dialect()
    {
        var hex = JacTokens.NewRootHex();
        var a1 = await ConnectAsRootAsync(hex);
        var a2 = await ConnectAsRootAsync(hex);
        var (tapr, taprId) = await ConnectTaprAsync(JacWire.Root(hex));
        var sender = await ConnectAsRootAsync();
        var bystander = await ConnectAsRootAsync();

        await sender.SendAsync($"{{\"type\":\"user\",\"root_ids\":[\"{JacWire.Root(hex)}\",\"{Unknown}\",\"{JacWire.Root(hex)}\"],\"data\":{Data}}}");
        await SendMarkerAsync(sender, "{\"marker\":1}", a1.ClientId, a2.ClientId, taprId, sender.ClientId, bystander.ClientId);

        foreach (var client in new[] { a1, a2 })
        {
            var frame = await client.Socket.ReceiveAsync();
            Assert.True(frame.IsText, $"{client}: {frame}");
            Assert.Equal(Encoding.UTF8.GetBytes(Data), frame.Data);
            Assert.Equal("{\"marker\":1}", await client.ReceiveTextAsync());
        }

        var taprFrame = await tapr.ReceiveAsync();
        Assert.True(taprFrame.IsText, $"TAPR: {taprFrame}");
        Assert.Equal(Encoding.UTF8.GetBytes(Data), taprFrame.Data);
        Assert.Equal("{\"marker\":1}", await tapr.ReceiveTextAsync());

        // No acknowledgement to the sender, nothing to others, nothing forwarded to the app.
        Assert.Equal("{\"marker\":1}", await sender.ReceiveTextAsync());
        Assert.Equal("{\"marker\":1}", await bystander.ReceiveTextAsync());
        Assert.DoesNotContain(App.ForConnection(sender.ClientId), r => r.Action == "message");
    }

    [Fact]
    public async Task A_channel_event_delivers_data_verbatim_to_every_connection_on_those_channels()
    {
        var channel = "room-" + Guid.NewGuid().ToString("N");
        var elsewhere = "room-" + Guid.NewGuid().ToString("N");
        var member1 = await ConnectJacAsync(query: "channel_id=" + channel);
        var member2 = await ConnectAsRootAsync(query: "channel_id=" + channel);
        var other = await ConnectJacAsync(query: "channel_id=" + elsewhere);
        var sender = await ConnectAsRootAsync();
        await App.WaitForActionAsync(member1.ClientId, "open");
        await App.WaitForActionAsync(other.ClientId, "open");

        await sender.SendAsync($"{{\"type\":\"channel\",\"channel_ids\":[\"{channel}\",\"no-such-channel\"],\"data\":{Data}}}");
        await sender.SendAsync($"{{\"type\":\"channel\",\"channel_ids\":[\"{channel}\",\"{elsewhere}\"],\"data\":{{\"both\":true}}}}");
        await SendMarkerAsync(sender, "{\"marker\":2}", member1.ClientId, member2.ClientId, other.ClientId, sender.ClientId);

        foreach (var member in new[] { member1, member2 })
        {
            Assert.Equal(Data, await member.ReceiveTextAsync());
            Assert.Equal("{\"both\":true}", await member.ReceiveTextAsync());
            Assert.Equal("{\"marker\":2}", await member.ReceiveTextAsync());
        }

        Assert.Equal("{\"both\":true}", await other.ReceiveTextAsync());
        Assert.Equal("{\"marker\":2}", await other.ReceiveTextAsync());
        Assert.Equal("{\"marker\":2}", await sender.ReceiveTextAsync());
    }

    [Fact]
    public async Task A_client_event_delivers_data_verbatim_once_to_each_listed_client_of_either_dialect()
    {
        var target = await ConnectAsRootAsync();
        var (tapr, taprId) = await ConnectTaprAsync(UniqueUser("tapr-client"));
        var bystander = await ConnectAsRootAsync();
        var sender = await ConnectAsRootAsync();

        await sender.SendAsync($"{{\"type\":\"client\",\"client_ids\":{JacWire.Array(target.ClientId, taprId, "1700000000:00000000000000000000000000000000", target.ClientId)},\"data\":{Data}}}");
        await SendMarkerAsync(sender, "{\"marker\":3}", target.ClientId, taprId, bystander.ClientId, sender.ClientId);

        Assert.Equal(Data, await target.ReceiveTextAsync());
        Assert.Equal("{\"marker\":3}", await target.ReceiveTextAsync());
        Assert.Equal(Data, await tapr.ReceiveTextAsync());
        Assert.Equal("{\"marker\":3}", await tapr.ReceiveTextAsync());
        Assert.Equal("{\"marker\":3}", await bystander.ReceiveTextAsync());
        Assert.Equal("{\"marker\":3}", await sender.ReceiveTextAsync());
    }

    [Theory]
    [InlineData("user")]
    [InlineData("channel")]
    [InlineData("client")]
    public async Task The_sender_receives_its_own_message_when_it_is_a_target(string type)
    {
        var hex = JacTokens.NewRootHex();
        var sender = await ConnectAsRootAsync(hex);
        var sibling = await ConnectAsRootAsync(hex);
        var (list, target) = type switch
        {
            "user" => ("root_ids", sender.RootId),
            "channel" => ("channel_ids", sender.ChannelId),
            _ => ("client_ids", sender.ClientId),
        };

        await sender.SendAsync($"{{\"type\":\"{type}\",\"{list}\":[\"{target}\"],\"data\":{Data}}}");
        await SendMarkerAsync(sender, "{\"marker\":4}", sender.ClientId, sibling.ClientId);

        Assert.Equal(Data, await sender.ReceiveTextAsync());
        Assert.Equal("{\"marker\":4}", await sender.ReceiveTextAsync());
        Assert.Equal(type == "user" ? Data : "{\"marker\":4}", await sibling.ReceiveTextAsync());
    }

    [Fact]
    public async Task Unknown_targets_are_skipped_silently_and_the_socket_stays_open()
    {
        var sender = await ConnectAsRootAsync();

        await sender.SendAsync($"{{\"type\":\"user\",\"root_ids\":[\"{Unknown}\"],\"data\":{{\"a\":1}}}}");
        await sender.SendAsync("{\"type\":\"channel\",\"channel_ids\":[\"no-such-channel-at-all\"],\"data\":{\"a\":2}}");
        await sender.SendAsync("{\"type\":\"client\",\"client_ids\":[\"no-such-client\"],\"data\":{\"a\":3}}");
        await SendMarkerAsync(sender, "{\"marker\":5}", sender.ClientId);

        Assert.Equal("{\"marker\":5}", await sender.ReceiveTextAsync());
        Assert.Null(sender.Socket.CloseIfEnded);
    }

    [Fact]
    public async Task Direct_messages_from_one_sender_arrive_in_the_order_sent()
    {
        var hex = JacTokens.NewRootHex();
        var target = await ConnectAsRootAsync(hex);
        var sender = await ConnectAsRootAsync();
        const int count = 50;

        for (var i = 0; i < count; i++)
        {
            var kind = (i % 3) switch
            {
                0 => $"\"type\":\"user\",\"root_ids\":[\"{target.RootId}\"]",
                1 => $"\"type\":\"channel\",\"channel_ids\":[\"{target.ChannelId}\"]",
                _ => $"\"type\":\"client\",\"client_ids\":[\"{target.ClientId}\"]",
            };
            await sender.SendAsync(string.Create(CultureInfo.InvariantCulture, $"{{{kind},\"data\":{{\"n\":{i}}}}}"));
        }

        for (var i = 0; i < count; i++)
        {
            Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"{{\"n\":{i}}}"), await target.ReceiveTextAsync());
        }
    }
}
