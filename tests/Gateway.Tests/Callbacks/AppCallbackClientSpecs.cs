using System.Text;
using Gateway.Callbacks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Callbacks;

/// <summary>
/// The callback client against a real app on a loopback Kestrel port: what each answer comes to, the response body read
/// whole and bounded (4 MiB), and the keep-alive connection reused.
/// </summary>
public sealed class AppCallbackClientSpecs : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly HashSet<string> _connections = [];
    private WebApplication? _app;
    private Uri? _base;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder(["--urls", "http://127.0.0.1:0"]);
        builder.Logging.ClearProviders();
        _app = builder.Build();
        _app.MapPost("/ok", (HttpContext context) =>
        {
            RecordConnection(context);
            return Results.Text("{\"answer\":42}", "application/json");
        });
        _app.MapPost("/big", () => Results.Bytes(new byte[(4 * 1024 * 1024) + 1], "application/json"));
        _app.MapPost("/two-mib", (HttpContext context) =>
        {
            RecordConnection(context);
            return Results.Bytes(new byte[2 * 1024 * 1024], "application/json");
        });
        _app.MapPost("/gone", () => Results.StatusCode(503));
        _app.MapPost("/refused", () => Results.StatusCode(400));
        await _app.StartAsync();
        _base = new Uri(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_2xx_is_delivered_with_its_body_when_asked_and_the_connection_is_kept_alive()
    {
        using var client = new AppCallbackClient(new Uri(_base!, "/ok"), maxConnections: 1);

        var first = await client.PostAsync("{}"u8.ToArray(), string.Empty, readBody: true, Timeout, CancellationToken.None);
        var second = await client.PostAsync("{}"u8.ToArray(), string.Empty, readBody: false, Timeout, CancellationToken.None);

        Assert.Equal(CallbackOutcome.Delivered, first.Outcome);
        Assert.Equal("{\"answer\":42}", Encoding.UTF8.GetString(first.Body!));
        Assert.Equal(CallbackOutcome.Delivered, second.Outcome);
        Assert.Null(second.Body);
        Assert.Single(_connections);
    }

    [Fact]
    public async Task A_body_the_gateway_does_not_want_is_still_read_whole_so_the_connection_is_kept_alive()
    {
        // 2 MiB: past what disposing an unread response would drain (1 MiB), within the 4 MiB bound.
        using var client = new AppCallbackClient(new Uri(_base!, "/two-mib"), maxConnections: 1);

        var first = await client.PostAsync("{}"u8.ToArray(), string.Empty, readBody: false, Timeout, CancellationToken.None);
        var second = await client.PostAsync("{}"u8.ToArray(), string.Empty, readBody: false, Timeout, CancellationToken.None);

        Assert.Equal(CallbackOutcome.Delivered, first.Outcome);
        Assert.Equal(CallbackOutcome.Delivered, second.Outcome);
        Assert.Single(_connections);
    }

    [Fact]
    public async Task A_body_over_4_mib_is_a_transient_failure()
    {
        using var client = new AppCallbackClient(new Uri(_base!, "/big"), maxConnections: 1);

        var result = await client.PostAsync("{}"u8.ToArray(), string.Empty, readBody: false, Timeout, CancellationToken.None);

        Assert.Equal(CallbackOutcome.Transient, result.Outcome);
        Assert.Equal(0, result.Status);
        Assert.Equal(nameof(HttpRequestError.ConfigurationLimitExceeded), result.Reason);
    }

    [Theory]
    [InlineData("/gone", "Transient", 503)]
    [InlineData("/refused", "Rejected", 400)]
    public async Task A_5xx_is_transient_and_a_4xx_rejected(string path, string outcome, int status)
    {
        using var client = new AppCallbackClient(new Uri(_base!, path), maxConnections: 1);

        var result = await client.PostAsync("{}"u8.ToArray(), string.Empty, readBody: true, Timeout, CancellationToken.None);

        Assert.Equal(Enum.Parse<CallbackOutcome>(outcome), result.Outcome);
        Assert.Equal(status, result.Status);
        Assert.Null(result.Body);
    }

    /// <summary>Notes the TCP connection a request came on: the keep-alive tests count them.</summary>
    private void RecordConnection(HttpContext context)
    {
        lock (_connections)
        {
            _connections.Add(context.Connection.Id);
        }
    }
}
