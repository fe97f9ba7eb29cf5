using Gateway.Cluster;
using Gateway.Hosting;
using Microsoft.Extensions.Options;

namespace Gateway.Dialects.Jac;

/// <summary>Maps the jac-cloud client endpoint.</summary>
public static partial class JacEndpoints
{
    /// <summary>Maps <c>Gateway:Jac:Path</c> (default <c>/websocket</c>).</summary>
    public static WebApplication MapJac(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var options = app.Services.GetRequiredService<IOptions<GatewayOptions>>().Value.Jac;
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Gateway.Dialects.Jac");
        var authenticator = new JacAuthenticator(options.TokenSecret, options.RootIdClaim, options.ClockSkew);
        if (!authenticator.HasSecret)
        {
            Log.NoSecret(log, options.Path);
        }

        var runtime = app.Services.GetRequiredService<GatewayRuntime>();
        var socket = runtime.Socket with { MaxMessageBytes = options.MaxMessageBytes };
        var dialect = new JacDialect(authenticator, app.Services.GetRequiredService<GatewayMetrics>(), log, socket, new OriginPolicy(options.AllowedOrigins), app.Services.GetRequiredService<ClusterMembership>());
        var limiter = app.Services.GetRequiredService<ConnectionLimiter>();
        var path = DialectRegistry.ServedPath(options.Path);
        app.Services.GetRequiredService<DialectRegistry>().Add(path, dialect);
        app.MapGet(path, context => ConnectionSession.ServeHttpAsync(context, dialect, runtime, limiter, log));
        return app;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1002, Level = LogLevel.Warning, Message = "No Gateway:Jac:TokenSecret is configured: every connection to {Path} is the public user")]
        public static partial void NoSecret(ILogger logger, string path);
    }
}
