namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>A gateway process and the app it calls back, started together and disposed together.</summary>
public sealed class GatewayHost : IAsyncDisposable
{
    private GatewayHost(AppServer app, GatewayProcess gateway)
    {
        App = app;
        Gateway = gateway;
    }

    /// <summary>The app receiving the callbacks.</summary>
    public AppServer App { get; }

    /// <summary>The gateway, calling back <see cref="App"/>.</summary>
    public GatewayProcess Gateway { get; }

    /// <summary>
    /// Starts an app on a free port, then a gateway whose callback URL points at it, configured by
    /// <paramref name="configure"/> (e.g. <c>o => o.With("Tapr", "PingTimeout", "00:00:02")</c>).
    /// </summary>
    public static async Task<GatewayHost> StartAsync(Action<GatewayProcessOptions>? configure = null)
    {
        var app = await AppServer.StartAsync().ConfigureAwait(false);
        try
        {
            var options = new GatewayProcessOptions { CallbackUrl = app.CallbackUrl };
            configure?.Invoke(options);
            var gateway = await GatewayProcess.StartAsync(options).ConfigureAwait(false);
            return new GatewayHost(app, gateway);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Gateway.DisposeAsync().ConfigureAwait(false);
        await App.DisposeAsync().ConfigureAwait(false);
    }
}
