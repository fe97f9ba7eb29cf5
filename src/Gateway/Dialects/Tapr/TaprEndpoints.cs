using Gateway.Cluster;
using Gateway.Hosting;
using Microsoft.Extensions.Options;

namespace Gateway.Dialects.Tapr;

/// <summary>Maps the TAPR client endpoint.</summary>
public static class TaprEndpoints
{
    /// <summary>Maps <c>Gateway:Tapr:Path</c> (default <c>/ws</c>, also answered with a trailing slash).</summary>
    public static WebApplication MapTapr(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var options = app.Services.GetRequiredService<IOptions<GatewayOptions>>().Value.Tapr;
        var runtime = app.Services.GetRequiredService<GatewayRuntime>();
        var dialect = new TaprDialect(options, app.Services.GetRequiredService<GatewayMetrics>(), runtime.Socket, app.Services.GetRequiredService<ClusterMembership>());
        var limiter = app.Services.GetRequiredService<ConnectionLimiter>();
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Gateway.Dialects.Tapr");
        var path = DialectRegistry.ServedPath(options.Path);
        app.Services.GetRequiredService<DialectRegistry>().Add(path, dialect);

        // The HTTP path (wss://, or when the lean path is off). Routing matches with or without a trailing slash.
        app.MapGet(path, context => ConnectionSession.ServeHttpAsync(context, dialect, runtime, limiter, log));
        return app;
    }
}
