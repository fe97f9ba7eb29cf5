using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>
/// A Kestrel listener on 127.0.0.1 serving one request delegate, that can stop (the port closes: an app that is
/// down) and start again on the same port. The apps of the specs (<see cref="AppServer"/>, the soak's) are built on it.
/// </summary>
public sealed class LoopbackListener(RequestDelegate handle, TimeSpan shutdownTimeout) : IAsyncDisposable
{
    private WebApplication? _app;
    private CancellationTokenSource _stopping = new();

    /// <summary>Whether it is listening.</summary>
    public bool IsRunning => _app is not null;

    /// <summary>Cancelled when it stops: requests still being served are cut then.</summary>
    public CancellationToken Stopping => _stopping.Token;

    /// <summary>
    /// Listens on <paramref name="port"/> (0: a free port) unless it already is; returns the port it listens on.
    /// </summary>
    public async Task<int> StartAsync(int port)
    {
        if (_app is not null)
        {
            return port;
        }

        _stopping = new CancellationTokenSource();
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = shutdownTimeout);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, port);
            kestrel.Limits.MaxRequestBodySize = null;
            kestrel.AddServerHeader = false;
        });
        var app = builder.Build();
        app.Run(handle);
        await app.StartAsync().ConfigureAwait(false);
        _app = app;
        return port != 0 ? port : new Uri(app.Urls.First()).Port;
    }

    /// <summary>Stops listening; requests in progress are cut. <see cref="StartAsync"/> brings it back.</summary>
    public async Task StopAsync()
    {
        var app = _app;
        if (app is null)
        {
            return;
        }

        _app = null;
        await _stopping.CancelAsync().ConfigureAwait(false);
        await app.StopAsync().ConfigureAwait(false);
        await app.DisposeAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }

    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);
}
