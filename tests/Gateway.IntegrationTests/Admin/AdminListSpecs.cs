using System.Net;
using System.Text.Json;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Admin;

/// <summary>PROTOCOL.md §4 <c>GET /tapr/ws/conn/list</c> and <c>POST /tapr/ws/conn/debug</c>.</summary>
[Collection(SharedGatewayCollection.Name)]
public sealed class AdminListSpecs(SharedGatewayFixture fixture, ITestOutputHelper output) : GatewaySpec(fixture.Host, output)
{
    [Fact]
    public async Task With_no_connections_the_list_is_an_empty_array()
    {
        var host = await StartOwnGatewayAsync(title: "idle gateway");

        var response = await host.Gateway.Admin.ListAsync();

        Assert.Equal(HttpStatusCode.OK, response.Status);
        Assert.Equal("application/json", response.ContentType);
        Assert.Equal("{\"code\":0,\"data\":[],\"message\":\"success\"}", response.Text);
    }

    [Fact]
    public async Task Each_user_lists_private_and_public_connections_with_sorted_keys()
    {
        var user = UniqueUser("lister");
        var tok1 = "l1-" + Guid.NewGuid().ToString("N");
        var tok2 = "l2-" + Guid.NewGuid().ToString("N");
        var (_, open1) = await ConnectAndOpenAsync(user, "auth_token=" + tok1, userAgent: "agent-one");
        await ConnectAsync(user, "auth_token=" + tok2, userAgent: "agent-two");
        await ConnectAsync(user, userAgent: "agent-three");
        var opens = await App.WaitForCountAsync(3, r => r.Action == "open" && r.UserName == user);

        var response = await Gateway.Admin.ListAsync();

        using var document = JsonDocument.Parse(response.Body);
        var root = document.RootElement;
        Assert.Equal(["code", "data", "message"], root.EnumerateObject().Select(p => p.Name));
        Assert.Equal(0, root.GetProperty("code").GetInt32());
        Assert.Equal("success", root.GetProperty("message").GetString());
        var entry = Assert.Single(root.GetProperty("data").EnumerateArray(), u => u.GetProperty("name").GetString() == user);
        Assert.Equal(["conns", "conns_number", "name", "public_conns", "public_conns_number"], entry.EnumerateObject().Select(p => p.Name));
        Assert.Equal(2, entry.GetProperty("conns_number").GetInt32());
        Assert.Equal(1, entry.GetProperty("public_conns_number").GetInt32());

        var privateConns = entry.GetProperty("conns").EnumerateArray().ToList();
        var publicConns = entry.GetProperty("public_conns").EnumerateArray().ToList();
        Assert.Equal(2, privateConns.Count);
        Assert.Single(publicConns);
        foreach (var connection in privateConns.Concat(publicConns))
        {
            // The Olares fields first, in this order; extensions may follow.
            Assert.Equal(["id", "token", "userAgent", "userAgentTag"], connection.EnumerateObject().Take(4).Select(p => p.Name));
            var open = Assert.Single(opens, o => o.ConnId == connection.GetProperty("id").GetString());
            Assert.Equal(open.Token, connection.GetProperty("token").GetString());
        }

        Assert.Equal(
            new[] { tok1, tok2 }.Order(StringComparer.Ordinal),
            privateConns.Select(c => c.GetProperty("token").GetString()!).Order(StringComparer.Ordinal));
        Assert.Equal("agent-three", publicConns[0].GetProperty("userAgent").GetString());
        Assert.Contains(privateConns, c => c.GetProperty("id").GetString() == open1.ConnId && c.GetProperty("userAgent").GetString() == "agent-one");
    }

    [Fact]
    public async Task A_user_whose_connections_are_all_closed_is_absent()
    {
        var user = UniqueUser("gone");
        var (client, open) = await ConnectAndOpenAsync(user);
        Assert.Contains($"\"name\":\"{user}\"", (await Gateway.Admin.ListAsync()).Text, StringComparison.Ordinal);

        await client.CloseAsync();
        await App.WaitForActionAsync(open.ConnId!, "close");

        await Wait.UntilAsync(
            async () => !(await Gateway.Admin.ListAsync()).Text.Contains(user, StringComparison.Ordinal),
            what: $"{user} to leave the list");
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("")]
    [InlineData("not json at all")]
    [InlineData("{\"data\":{\"a\":1},\"action\":\"message\"}")]
    public async Task Debug_always_answers_success(string body)
    {
        var response = await Gateway.Admin.DebugAsync(body);

        Assert.Equal(HttpStatusCode.OK, response.Status);
        Assert.Equal("{\"code\":0,\"message\":\"success\"}", response.Text);
    }
}
