using System.Net;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Admin;

/// <summary>PROTOCOL.md §4 <c>POST /tapr/ws/conn/close</c>: targets, close codes, the safety of an empty filter, errors.</summary>
[Collection(SharedGatewayCollection.Name)]
public sealed class AdminCloseSpecs(SharedGatewayFixture fixture, ITestOutputHelper output) : GatewaySpec(fixture.Host, output)
{
    private const string Success = "{\"code\":0,\"message\":\"success\"}";

    [Fact]
    public async Task A_custom_code_and_reason_reach_the_client_and_the_app_gets_close()
    {
        var user = UniqueUser("custom");
        var (client, open) = await ConnectAndOpenAsync(user);

        var response = await Gateway.Admin.CloseAsync($"{{\"conns\":[\"{open.ConnId}\"],\"code\":4321,\"reason\":\"maintenance window\"}}");
        var close = await client.WaitForCloseAsync();

        Assert.Equal(HttpStatusCode.OK, response.Status);
        Assert.Equal(Success, response.Text);
        Assert.Equal(new WsClose(4321, "maintenance window", FrameReceived: true), close);
        var callback = await App.WaitForActionAsync(open.ConnId!, "close");
        Assert.Equal(ExpectedCallback("close", user, open.ConnId!, open.Token!, accessPublic: true), callback.BodyText);
    }

    [Fact]
    public async Task Close_targets_are_the_intersection_of_the_given_filters()
    {
        var user = UniqueUser("closer");
        var other = UniqueUser("other");
        var token = "tc-" + Guid.NewGuid().ToString("N");
        var (privateClient, privateOpen) = await ConnectAndOpenAsync(user, "auth_token=" + token);
        var publicClient = await ConnectAsync(user);
        var publicOpen = await App.WaitForAsync(r => r.Action == "open" && r.UserName == user && r.ConnId != privateOpen.ConnId);
        var (otherClient, otherOpen) = await ConnectAndOpenAsync(other, "auth_token=" + token);

        // A user's public connections only.
        Assert.Equal(Success, (await Gateway.Admin.CloseAsync($"{{\"users\":[\"{user}\"],\"users_access_type\":2}}")).Text);
        Assert.Equal(1000, (await publicClient.WaitForCloseAsync()).Code);
        await App.WaitForActionAsync(publicOpen.ConnId!, "close");

        // A connection id that does not belong to the user: nothing.
        Assert.Equal(Success, (await Gateway.Admin.CloseAsync($"{{\"users\":[\"{other}\"],\"conns\":[\"{privateOpen.ConnId}\"]}}")).Text);

        // A shared token, narrowed by user.
        Assert.Equal(Success, (await Gateway.Admin.CloseAsync($"{{\"tokens\":[\"{token}\"],\"users\":[\"{other}\"]}}")).Text);
        Assert.Equal(1000, (await otherClient.WaitForCloseAsync()).Code);
        await App.WaitForActionAsync(otherOpen.ConnId!, "close");

        await privateClient.SendTextAsync("{\"event\":\"ping\"}");
        Assert.Equal("{\"event\":\"pong\"}", await privateClient.ReceiveTextAsync());
        Assert.DoesNotContain(App.ForConnection(privateOpen.ConnId!), r => r.Action == "close");
    }

    [Fact]
    public async Task Unknown_ids_and_users_are_not_an_error()
    {
        var response = await Gateway.Admin.CloseAsync("{\"conns\":[\"no-such-connection\"],\"users\":[\"nobody-at-all\"]}");

        Assert.Equal(HttpStatusCode.OK, response.Status);
        Assert.Equal(Success, response.Text);
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("null")]
    [InlineData("{\"conn\":[\"misspelled\"]}")]
    [InlineData("{\"conns\":[],\"users\":[],\"tokens\":[]}")]
    [InlineData("{\"tokens\":[\"\"]}")]
    [InlineData("{\"users_access_type\":2}")]
    [InlineData("{\"all\":false}")]
    [InlineData("{\"code\":4000,\"reason\":\"everyone\"}")]
    public async Task An_empty_filter_closes_nothing_and_answers_close_target_is_nil(string body)
    {
        var (canary, open) = await ConnectAndOpenAsync(UniqueUser("canary"));

        var response = await Gateway.Admin.CloseAsync(body);
        await canary.SendTextAsync("{\"event\":\"ping\"}");

        Assert.Equal(HttpStatusCode.OK, response.Status);
        Assert.Equal("{\"code\":400,\"message\":\"close target is nil\"}", response.Text);
        Assert.Equal("{\"event\":\"pong\"}", await canary.ReceiveTextAsync());
        Assert.Null(canary.CloseIfEnded);
        Assert.DoesNotContain(App.ForConnection(open.ConnId!), r => r.Action == "close");
    }

    [Theory]
    [InlineData("", "unexpected end of JSON input")]
    [InlineData("{\"conns\":[", "unexpected end of JSON input")]
    [InlineData("{\"conns\":\"x\"}", "json: cannot unmarshal string into Go struct field disConnectionReq.conns of type []string")]
    [InlineData("{\"users\":[\"a\"],\"users_access_type\":true}", "json: cannot unmarshal bool into Go struct field disConnectionReq.users_access_type of type int")]
    [InlineData("\"all\"", "json: cannot unmarshal string into Go value of type app.disConnectionReq")]
    public async Task Invalid_json_or_wrong_types_give_code_400_receive_data_invalid(string body, string detail)
    {
        var response = await Gateway.Admin.CloseAsync(body);

        Assert.Equal(HttpStatusCode.OK, response.Status);
        Assert.Equal($"{{\"code\":400,\"message\":\"receive data invalid, {detail}\"}}", response.Text);
    }

    [Theory]
    [InlineData("{\"conns\":[\"x\"],\"code\":1001}")]
    [InlineData("{\"conns\":[\"x\"],\"code\":2999}")]
    [InlineData("{\"conns\":[\"x\"],\"code\":5000}")]
    [InlineData("{\"conns\":[\"x\"],\"code\":\"4000\"}")]
    [InlineData("{\"conns\":[\"x\"],\"reason\":42}")]
    [InlineData("{\"conns\":[1]}")]
    [InlineData("{\"conns\":[\"x\"]]")]
    public async Task Other_malformed_bodies_also_give_code_400_receive_data_invalid(string body)
    {
        var response = await Gateway.Admin.CloseAsync(body);

        Assert.Equal(HttpStatusCode.OK, response.Status);
        Assert.StartsWith("{\"code\":400,\"message\":\"receive data invalid, ", response.Text, StringComparison.Ordinal);
        Assert.EndsWith("\"}", response.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task All_true_closes_every_connection()
    {
        var host = await StartOwnGatewayAsync(title: "close-all gateway");
        var clients = new List<WsClient>();
        for (var i = 0; i < 3; i++)
        {
            clients.Add(await ConnectAsync(UniqueUser("all"), cookie: i == 0 ? "auth_token=t0" : null, host: host));
        }

        await host.App.WaitForCountAsync(3, r => r.Action == "open");

        var response = await host.Gateway.Admin.CloseAsync("{\"all\":true}");

        Assert.Equal(Success, response.Text);
        foreach (var client in clients)
        {
            Assert.Equal(new WsClose(1000, string.Empty, FrameReceived: true), await client.WaitForCloseAsync());
        }

        var closes = await host.App.WaitForCountAsync(3, r => r.Action == "close");
        Assert.Equal(3, closes.Select(c => c.ConnId).Distinct().Count());
        await Wait.UntilAsync(async () => (await host.Gateway.Admin.ListAsync()).Text == "{\"code\":0,\"data\":[],\"message\":\"success\"}", what: "an empty list");
    }

    [Fact]
    public async Task The_olares_compatibility_option_makes_an_empty_filter_close_everything()
    {
        var host = await StartOwnGatewayAsync(o => o.With("Admin", "CloseAllOnEmptyFilter", "true"), "olares-close gateway");
        var first = await ConnectAsync(UniqueUser("compat"), host: host);
        var second = await ConnectAsync(UniqueUser("compat"), host: host);
        await host.App.WaitForCountAsync(2, r => r.Action == "open");

        var response = await host.Gateway.Admin.CloseAsync("{}");

        Assert.Equal(Success, response.Text);
        Assert.Equal(1000, (await first.WaitForCloseAsync()).Code);
        Assert.Equal(1000, (await second.WaitForCloseAsync()).Code);
        await host.App.WaitForCountAsync(2, r => r.Action == "close");
    }
}
