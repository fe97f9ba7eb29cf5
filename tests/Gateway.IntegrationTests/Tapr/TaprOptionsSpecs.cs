using System.Diagnostics;
using System.Net;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Tapr;

/// <summary>A TAPR dialect configured away from every default.</summary>
public sealed class CustomTaprFixture : GatewayFixture
{
    public const string Path = "/socket";
    public const string UserHeader = "X-Test-User";
    public const int MaxMessageBytes = 1000;
    public static readonly TimeSpan PingTimeout = TimeSpan.FromSeconds(2);

    protected override void Configure(GatewayProcessOptions options) => options
        .With("Tapr", "Path", Path)
        .With("Tapr", "UserHeader", UserHeader)
        .With("Tapr", "RequireUser", "true")
        .With("Tapr", "PingTimeout", "00:00:02")
        .With("Tapr", "AnyFrameIsLiveness", "false")
        .With("Limits", "MaxMessageBytes", "1000");
}

/// <summary>PROTOCOL.md §3 "configurable": path, user header, required user, size limit, what counts as liveness.</summary>
public sealed class TaprOptionsSpecs(CustomTaprFixture fixture, ITestOutputHelper output) : GatewaySpec(fixture.Host, output), IClassFixture<CustomTaprFixture>
{
    [Fact]
    public async Task The_configured_path_serves_clients_and_the_default_path_is_gone()
    {
        using var defaultPath = await Gateway.Http.GetAsync("/ws");
        using var plainGet = await Gateway.Http.GetAsync(CustomTaprFixture.Path);
        var user = UniqueUser("path");
        await using var client = await WsClient.ConnectAsync(Gateway.WebSocketUri(CustomTaprFixture.Path), headers: UserHeaders(user));
        await client.SendTextAsync("{\"event\":\"ping\"}");

        Assert.Equal(HttpStatusCode.NotFound, defaultPath.StatusCode);
        Assert.Equal(HttpStatusCode.UpgradeRequired, plainGet.StatusCode);
        Assert.Equal("{\"event\":\"pong\"}", await client.ReceiveTextAsync());
    }

    [Fact]
    public async Task The_configured_user_header_names_the_user()
    {
        var user = UniqueUser("header");

        await using var client = await WsClient.ConnectAsync(
            Gateway.WebSocketUri(CustomTaprFixture.Path),
            user: "not-this-one",
            headers: UserHeaders(user));
        var open = await App.WaitForOpenAsync(user);

        Assert.Equal(ExpectedCallback("open", user, open.ConnId!, open.Token!, accessPublic: true), open.BodyText);
    }

    [Fact]
    public async Task Require_user_refuses_an_upgrade_without_the_header_with_401()
    {
        var marker = "norequser-" + Guid.NewGuid().ToString("N");
        var request = RawHttp.UpgradeRequest(CustomTaprFixture.Path, Gateway.Port, "X-Bfl-User: " + marker, "Cookie: auth_token=" + marker);

        var (connection, response) = await RawHttp.SendAsync(Gateway.Port, request);
        await using var _ = connection;

        Assert.Equal(401, response.Status);
        await App.AssertNoMoreAsync(r => r.Token == marker, allowed: 0, what: "callbacks of the refused connection");
    }

    [Fact]
    public async Task The_configured_size_limit_applies()
    {
        var user = UniqueUser("limit");
        await using var client = await WsClient.ConnectAsync(Gateway.WebSocketUri(CustomTaprFixture.Path), headers: UserHeaders(user));
        var open = await App.WaitForOpenAsync(user);

        await client.SendTextAsync(new string('a', CustomTaprFixture.MaxMessageBytes));
        var atLimit = await App.WaitForActionAsync(open.ConnId!, "message");
        await client.SendTextAsync(new string('b', CustomTaprFixture.MaxMessageBytes + 1));
        var close = await client.WaitForCloseAsync();

        Assert.Equal(CustomTaprFixture.MaxMessageBytes, atLimit.RawText!.Length);
        Assert.Equal(1009, close.Code);
        await App.WaitForActionAsync(open.ConnId!, "close");
        Assert.Equal(["open", "message", "close"], App.ForConnection(open.ConnId!).Select(c => c.Action));
    }

    [Fact]
    public async Task With_any_frame_liveness_off_only_pings_keep_a_socket_alive()
    {
        var user = UniqueUser("chatty");

        // The deadline runs from the connection actor's start, which comes after this and before the app hears of it;
        // the frames start at once, not after the open callback (which a loaded machine may deliver late).
        var connected = Stopwatch.StartNew();
        await using var client = await WsClient.ConnectAsync(Gateway.WebSocketUri(CustomTaprFixture.Path), headers: UserHeaders(user));

        var sent = 0;
        while (client.CloseIfEnded is null && connected.Elapsed < CustomTaprFixture.PingTimeout * 4)
        {
            await SendIgnoringCloseAsync(client, $"{{\"event\":\"chat\",\"n\":{sent++}}}");
            await Task.Delay(CustomTaprFixture.PingTimeout / 8);
        }

        var close = await client.WaitForCloseAsync();
        Assert.Equal(new WsClose(4000, "ping timeout", FrameReceived: true), close);
        Assert.InRange(connected.Elapsed, CustomTaprFixture.PingTimeout - TimeSpan.FromMilliseconds(250), CustomTaprFixture.PingTimeout * 4);
        var open = await App.WaitForOpenAsync(user);
        var callbacks = await App.WaitUntilAsync(r => r.Any(c => c.ConnId == open.ConnId && c.Action == "close"));
        Assert.Contains(callbacks, c => c.ConnId == open.ConnId && c.Action == "message");
    }

    private static Dictionary<string, string> UserHeaders(string user) => new() { [CustomTaprFixture.UserHeader] = user };

    private static async Task SendIgnoringCloseAsync(WsClient client, string text)
    {
        try
        {
            await client.SendTextAsync(text);
        }
        catch (System.Net.WebSockets.WebSocketException)
        {
            // The deadline closed the socket meanwhile.
        }
    }
}
