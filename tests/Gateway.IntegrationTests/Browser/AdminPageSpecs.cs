using System.Globalization;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Browser;

/// <summary>
/// Issue 13, the admin page in a real browser (headless Chromium via <c>node/admin-page.js</c>): it shows
/// live figures and a connection opened by a test client, sends that client a message through the admin
/// API, closes it, and leaves a screenshot as a test artifact.
/// </summary>
[Collection(SharedGatewayCollection.Name)]
public sealed class AdminPageSpecs(SharedGatewayFixture fixture, ITestOutputHelper output) : GatewaySpec(fixture.Host, output)
{
    private static readonly TimeSpan PageTimeout = TestTimeouts.Dilated(TimeSpan.FromSeconds(20));

    /// <summary>
    /// Where screenshots go: <c>GATEWAY_TEST_ARTIFACTS</c>, else <c>artifacts/</c> beside the test assembly
    /// (<c>tests/Gateway.IntegrationTests/bin/&lt;Configuration&gt;/net10.0/artifacts</c>).
    /// </summary>
    public static string ArtifactsDirectory =>
        Environment.GetEnvironmentVariable("GATEWAY_TEST_ARTIFACTS") is { Length: > 0 } configured
            ? configured
            : Path.Combine(AppContext.BaseDirectory, "artifacts");

    [Fact]
    public async Task The_page_shows_a_connection_sends_it_a_message_and_closes_it()
    {
        var host = await StartOwnGatewayAsync(title: "gateway for the admin page");
        var user = UniqueUser("page");
        var (client, open) = await ConnectAndOpenAsync(user, host: host);
        var id = open.ConnId!;
        const string Payload = "{\"event\":\"notice\",\"data\":{\"text\":\"from the admin page\"}}";
        Directory.CreateDirectory(ArtifactsDirectory);
        var screenshot = Path.Combine(ArtifactsDirectory, "admin-page.png");
        File.Delete(screenshot);

        var result = await HeadlessChromium.RunScriptAsync(
            "admin-page.js",
            [new Uri(host.Gateway.BaseUri, "/admin/").ToString(), id, user, Payload, screenshot, ((int)PageTimeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture)],
            PageTimeout,
            Output);
        Output.WriteLine($"Screenshot: {screenshot}");

        Assert.Equal(Payload, await client.ReceiveTextAsync());
        var close = await client.WaitForCloseAsync();
        Assert.Equal((1000, true), (close.Code, close.FrameReceived));
        await host.App.WaitForActionAsync(id, "close");
        Assert.Equal("1", result.GetProperty("connections").GetString());
        Assert.Equal("live", result.GetProperty("feedState").GetString());
        Assert.Equal(1, result.GetProperty("rowsAfterFilter").GetInt32());
        Assert.Equal(id, result.GetProperty("target").GetString());
        Assert.Equal("{\"code\":0,\"data\":{\"matched\":1,\"enqueued\":1,\"dropped\":0},\"message\":\"success\"}", result.GetProperty("sendResult").GetString());
        Assert.Equal("{\"code\":0,\"message\":\"success\"}", result.GetProperty("closeResult").GetString());
        var png = await File.ReadAllBytesAsync(screenshot);
        Assert.True(png.Length > 1000, $"screenshot of {png.Length} bytes");
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, png[..4]);
    }
}
