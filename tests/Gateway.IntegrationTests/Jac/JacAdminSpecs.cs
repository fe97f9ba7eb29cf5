using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Jac;

/// <summary>
/// PROTOCOL.md §4 and §5 together: the admin API targets jac connections by root id (<c>users</c>), client id
/// (<c>conn_id</c>) and channel (<c>channels</c>, Extension), alongside TAPR connections, and lists them.
/// </summary>
[Collection(JacGatewayCollection.Name)]
public sealed class JacAdminSpecs(JacGatewayFixture fixture, ITestOutputHelper output) : JacSpec(fixture.Host, output)
{
    [Fact]
    public async Task Sends_target_the_intersection_of_users_conn_id_channels_and_tokens_across_both_dialects()
    {
        var hexA = JacTokens.NewRootHex();
        var hexB = JacTokens.NewRootHex();
        var rootA = JacWire.Root(hexA);
        var rootB = JacWire.Root(hexB);
        var c1 = "c1-" + hexA;
        var c2 = "c2-" + hexA;
        var tokenA1 = JacTokens.Sign($"{{\"root_id\":\"{hexA}\",\"jti\":\"one\",\"exp\":{JacTokens.Future}}}");
        var tokenA2 = JacTokens.Sign($"{{\"root_id\":\"{hexA}\",\"jti\":\"two\",\"exp\":{JacTokens.Future}}}");
        var taprUser = UniqueUser("tapr-mixed");
        var j1 = await ConnectJacAsync(tokenA1, "channel_id=" + c1);
        var j2 = await ConnectJacAsync(tokenA2, "channel_id=" + c2);
        var j3 = await ConnectJacAsync(JacTokens.ForRoot(hexB), "channel_id=" + c1);
        var j4 = await ConnectJacAsync(query: "channel_id=" + c1);
        var (s, sId) = await ConnectTaprAsync(taprUser, "auth_token=tapr-" + hexA);
        var (t, tId) = await ConnectTaprAsync(rootA);
        foreach (var jac in new[] { j1, j2, j3, j4 })
        {
            await App.WaitForActionAsync(jac.ClientId, "open");
        }

        var clients = new Dictionary<char, (WsClient Client, string Id)>
        {
            ['1'] = (j1.Socket, j1.ClientId),
            ['2'] = (j2.Socket, j2.ClientId),
            ['3'] = (j3.Socket, j3.ClientId),
            ['4'] = (j4.Socket, j4.ClientId),
            ['S'] = (s, sId),
            ['T'] = (t, tId),
        };
        var cases = new (string Filter, string Expected)[]
        {
            ($"\"users\":[\"{rootA}\",\"{taprUser}\"]", "12ST"),
            ($"\"users\":[\"{rootA}\"],\"users_access_type\":1", "12"),
            ($"\"users\":[\"{rootA}\"],\"users_access_type\":2", "T"),
            ($"\"conn_id\":\"{j3.ClientId}\"", "3"),
            ($"\"conn_id\":\"{j3.ClientId}\",\"users\":[\"{rootA}\"]", string.Empty),
            ($"\"channels\":[\"{c1}\"]", "134"),
            ($"\"channels\":[\"{c1}\"],\"users\":[\"{rootA}\"]", "1"),
            ($"\"channels\":[\"{c1}\",\"{c2}\"],\"users\":[\"{rootA}\"]", "12"),
            ($"\"channels\":[\"{c1}\"],\"users\":[\"{JacWire.PublicRoot}\"]", "4"),
            ($"\"channels\":[\"{c1}\"],\"users\":[\"{rootB}\",\"{taprUser}\"]", "3"),
            ($"\"channels\":[\"{c1}\"],\"conn_id\":\"{j4.ClientId}\"", "4"),
            ($"\"channels\":[\"{c2}\"],\"conn_id\":\"{j1.ClientId}\"", string.Empty),
            ($"\"channels\":[\"no-such-channel-{hexA}\"]", string.Empty),
            ($"\"tokens\":[\"{tokenA1}\"]", "1"),
            ($"\"tokens\":[\"{Md5(tokenA2)}\"],\"users\":[\"{rootA}\"]", "2"),
        };

        for (var i = 0; i < cases.Length; i++)
        {
            var response = await Gateway.Admin.SendAsync($"{{\"payload\":{{\"case\":{i}}},{cases[i].Filter}}}");
            var n = cases[i].Expected.Length;
            Assert.Equal($"{{\"code\":0,\"data\":{{\"matched\":{n},\"enqueued\":{n},\"dropped\":0}},\"message\":\"success\"}}", response.Text);
        }

        foreach (var (name, (client, id)) in clients)
        {
            await Gateway.Admin.SendAsync($"{{\"conn_id\":\"{id}\",\"payload\":\"end\"}}");
            var received = new List<string>();
            for (var frame = await client.ReceiveTextAsync(); frame != "\"end\""; frame = await client.ReceiveTextAsync())
            {
                received.Add(frame);
            }

            var expected = Enumerable.Range(0, cases.Length).Where(i => cases[i].Expected.Contains(name, StringComparison.Ordinal)).Select(i => $"{{\"case\":{i}}}");
            Assert.Equal(expected, received);
        }
    }

    [Fact]
    public async Task Close_by_channels_closes_only_the_jac_connections_on_them_and_the_app_gets_their_close()
    {
        var hexA = JacTokens.NewRootHex();
        var tokenA = JacTokens.ForRoot(hexA);
        var x = "x-" + hexA;
        var y = "y-" + hexA;
        var onXofA = await ConnectJacAsync(tokenA, "channel_id=" + x);
        var onXofB = await ConnectAsRootAsync(query: "channel_id=" + x);
        var onYofA = await ConnectJacAsync(tokenA, "channel_id=" + y);
        var (tapr, taprId) = await ConnectTaprAsync(JacWire.Root(hexA));
        await App.WaitForActionAsync(onXofA.ClientId, "open");
        await App.WaitForActionAsync(onYofA.ClientId, "open");

        var first = await Gateway.Admin.CloseAsync($"{{\"channels\":[\"{x}\"],\"users\":[\"{JacWire.Root(hexA)}\"],\"code\":4100,\"reason\":\"channel closed\"}}");
        var closedFirst = await onXofA.Socket.WaitForCloseAsync();
        var second = await Gateway.Admin.CloseAsync($"{{\"channels\":[\"{y}\"]}}");
        var closedSecond = await onYofA.Socket.WaitForCloseAsync();

        Assert.Equal("{\"code\":0,\"message\":\"success\"}", first.Text);
        Assert.Equal("{\"code\":0,\"message\":\"success\"}", second.Text);
        Assert.Equal(new WsClose(4100, "channel closed", FrameReceived: true), closedFirst);
        Assert.Equal(new WsClose((int)WebSocketCloseStatus.NormalClosure, string.Empty, FrameReceived: true), closedSecond);
        var close = await App.WaitForActionAsync(onXofA.ClientId, "close");
        Assert.Equal(ExpectedCallback("close", JacWire.Root(hexA), onXofA.ClientId, tokenA, accessPublic: false), close.BodyText);
        await App.WaitForActionAsync(onYofA.ClientId, "close");

        // The others are open and still addressable.
        var rest = await Gateway.Admin.SendAsync($"{{\"users\":[\"{onXofB.RootId}\",\"{JacWire.Root(hexA)}\"],\"payload\":\"still here\"}}");
        Assert.Equal("{\"code\":0,\"data\":{\"matched\":2,\"enqueued\":2,\"dropped\":0},\"message\":\"success\"}", rest.Text);
        Assert.Equal("\"still here\"", await onXofB.ReceiveTextAsync());
        Assert.Equal("\"still here\"", await tapr.ReceiveTextAsync());
        Assert.Single(await ListedConnection.FindAsync(Gateway, taprId));
    }

    [Fact]
    public async Task The_list_shows_jac_connections_under_their_root_with_channel_and_dialect()
    {
        var hex = JacTokens.NewRootHex();
        var root = JacWire.Root(hex);
        var token = JacTokens.ForRoot(hex);
        var channel = "listed-" + hex;
        var publicChannel = "listed-public-" + hex;
        var jac = await ConnectJacAsync(token, "channel_id=" + channel, userAgent: "jac-agent/1.0");
        var anonymous = await ConnectJacAsync(query: "channel_id=" + publicChannel);
        var (_, taprId) = await ConnectTaprAsync(root);
        await App.WaitForActionAsync(jac.ClientId, "open");
        await App.WaitForActionAsync(anonymous.ClientId, "open");

        var all = await ListedConnection.ReadAllAsync(Gateway);

        var ofRoot = all.Where(c => c.User == root).ToList();
        Assert.Equal(2, ofRoot.Count);
        var listedJac = Assert.Single(ofRoot, c => !c.IsPublic);
        Assert.Equal(jac.ClientId, listedJac.Id);
        Assert.Equal(["id", "token", "userAgent", "userAgentTag"], listedJac.Fields.EnumerateObject().Take(4).Select(p => p.Name));
        Assert.Equal(token, listedJac.Token);
        Assert.Equal("jac-agent/1.0", listedJac.Fields.GetProperty("userAgent").GetString());
        Assert.Equal(Md5("jac-agent/1.0"), listedJac.Fields.GetProperty("userAgentTag").GetString());
        Assert.Equal([channel], listedJac.Channels);
        Assert.Equal("jac", listedJac.Dialect);

        var listedTapr = Assert.Single(ofRoot, c => c.IsPublic);
        Assert.Equal(taprId, listedTapr.Id);
        Assert.Equal("tapr", listedTapr.Dialect);
        Assert.Empty(listedTapr.Channels);

        var listedAnonymous = Assert.Single(all, c => c.Id == anonymous.ClientId);
        Assert.Equal(PublicRoot, listedAnonymous.User);
        Assert.True(listedAnonymous.IsPublic);
        Assert.Equal(string.Empty, listedAnonymous.Token);
        Assert.Equal([publicChannel], listedAnonymous.Channels);
        Assert.Equal("jac", listedAnonymous.Dialect);
    }

    private static string Md5(string text) => Convert.ToHexStringLower(MD5.HashData(Encoding.UTF8.GetBytes(text)));
}
