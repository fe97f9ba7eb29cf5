using System.IO.Pipelines;
using Gateway.Hosting;
using Gateway.WebSockets;
using Microsoft.AspNetCore.Connections;

namespace Gateway.Dialects;

/// <summary>
/// Kestrel connection middleware for the lean socket path. It reads the first request head off a new
/// connection; when it is a WebSocket upgrade for a dialect's path it serves the socket directly over
/// the transport's pipes. Anything else, including a TLS handshake, is handed to Kestrel's HTTP stack
/// untouched (nothing is consumed), where the same dialects are also mapped as endpoints. With
/// <see cref="Gateway.Hosting.SocketsOptions.LeanTransport"/> on, most lean sockets never reach it: they are served by
/// <see cref="LeanListenerFactory"/> without Kestrel, which hands over only what it does not serve itself (a head that
/// arrives in pieces among them).
/// </summary>
/// <remarks>
/// Kestrel's HTTP/1.1 stack keeps its connection, request, header, context and stream objects (several
/// kilobytes) alive for as long as an upgraded request lasts, that is for the socket's whole life.
/// For a gateway holding tens of thousands of idle sockets that is most of the memory per connection.
/// </remarks>
/// <param name="next">Kestrel's pipeline after this middleware (on a TLS endpoint, the TLS handshake first).</param>
/// <param name="services">The application's services, from which the dialects are resolved on the first connection.</param>
/// <param name="servesUpgrades">
/// False on a TLS endpoint: the middleware runs before the TLS handshake there, so it only applies the connection cap and
/// hands every connection on (a plaintext upgrade on a TLS port is not served).
/// </param>
internal sealed partial class WebSocketUpgradeMiddleware(ConnectionDelegate next, IServiceProvider services, bool servesUpgrades = true)
{
    private readonly Lazy<Routes> _routes = new(() => Routes.Build(services));

    /// <summary>How long a new connection may take to send its first request head before Kestrel's own timeouts take over.</summary>
    private static readonly TimeSpan HeadTimeout = TimeSpan.FromSeconds(30);

    public async Task OnConnectionAsync(ConnectionContext connection)
    {
        // Every connection passes here, so the cap on concurrent connections lives here too (instead of
        // Kestrel's limit middleware, one more frame per socket): past it, close before reading anything.
        var routes = _routes.Value;
        if (!routes.Limiter.TryAdmitTransport())
        {
            connection.Abort(new ConnectionAbortedException("Connection limit reached."));
            return;
        }

        try
        {
            // Only the session is kept across the socket's life, not the request head or the timeout.
            if (servesUpgrades && await SniffAsync(connection).ConfigureAwait(false) is { } opening)
            {
                if (await opening.ConfigureAwait(false) is { } session)
                {
                    await session.RunAsync(connection.ConnectionClosed).ConfigureAwait(false);
                }
            }
            else
            {
                await next(connection).ConfigureAwait(false);
            }
        }
        catch (Exception exception) when (IsConnectionGone(exception))
        {
            // The client went away during the handshake: its doing, not an error of the gateway's.
            Log.ConnectionGone(routes.Log, exception.GetType().Name, exception.Message);
        }
        finally
        {
            routes.Limiter.ReleaseTransport();
        }
    }

    /// <summary>Reads the first request head; returns the opening session when it is ours, else null with nothing consumed.</summary>
    private async Task<Task<ConnectionSession.Session?>?> SniffAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        // Not linked to ConnectionClosed: a linked source leaves its (disposed) registration node on the connection's
        // token for the socket's whole life, 144 bytes per connection. A connection that closes ends the read anyway,
        // since the transport then completes the input pipe.
        using var headTimeout = new CancellationTokenSource(HeadTimeout);
        while (true)
        {
            ReadResult result;
            try
            {
                result = await input.ReadAsync(headTimeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return null;
            }

            var buffer = result.Buffer;

            // TLS (a handshake record) or anything that is not an HTTP/1.1 GET goes to Kestrel as is.
            if (buffer.Length > 0 && buffer.FirstSpan[0] != (byte)'G')
            {
                input.AdvanceTo(buffer.Start);
                return null;
            }

            if (UpgradeRequest.TryParse(buffer, _routes.Value.HeadLimits, out var request, out var headEnd, out var needMore))
            {
                if (_routes.Value.LeanDialect(request!) is { } dialect)
                {
                    input.AdvanceTo(headEnd);
                    var routes = _routes.Value;
                    return ConnectionSession.OpenAsync(request!, new LeanUpgradeTransport(connection), dialect, routes.Runtime, routes.Limiter, routes.Log);
                }

                input.AdvanceTo(buffer.Start);
                return null;
            }

            if (!needMore || result.IsCompleted)
            {
                input.AdvanceTo(buffer.Start);
                return null;
            }

            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>An exception that only says the client's connection ended or was reset.</summary>
    internal static bool IsConnectionGone(Exception exception) =>
        exception is IOException or OperationCanceledException or ObjectDisposedException or ConnectionResetException or ConnectionAbortedException;

    private static partial class Log
    {
        [LoggerMessage(EventId = 810, Level = LogLevel.Debug, Message = "Connection ended during the opening handshake: {ExceptionType}: {Message}")]
        public static partial void ConnectionGone(ILogger logger, string exceptionType, string message);
    }

    /// <summary>The dialect paths, resolved once the application is built; shared with <see cref="LeanListenerFactory"/>.</summary>
    internal sealed class Routes(Dictionary<string, IDialect> byPath, GatewayRuntime runtime, ConnectionLimiter limiter, ILogger log, HeadLimits headLimits)
    {
        /// <summary>Kestrel's request head limits, which the lean path stays within.</summary>
        public HeadLimits HeadLimits { get; } = headLimits;

        public GatewayRuntime Runtime { get; } = runtime;

        public ConnectionLimiter Limiter { get; } = limiter;

        public ILogger Log { get; } = log;

        public static Routes Build(IServiceProvider services) => new(
            services.GetRequiredService<DialectRegistry>().ByPath,
            services.GetRequiredService<GatewayRuntime>(),
            services.GetRequiredService<ConnectionLimiter>(),
            services.GetRequiredService<ILoggerFactory>().CreateLogger("Gateway.Dialects"),
            HeadLimits.From(services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>>().Value.Limits));

        public IDialect? Match(string path) => byPath.TryGetValue(path.TrimEnd('/'), out var dialect) ? dialect : null;

        /// <summary>
        /// The dialect that serves <paramref name="request"/> on the lean path, or null. Only a request for a dialect's
        /// path that passes the whole validation is served there; every refusal of a malformed or non-upgrade request is
        /// made on the HTTP path, by the same validation, so both agree.
        /// </summary>
        public IDialect? LeanDialect(UpgradeRequest request) =>
            Match(request.Path) is { } dialect && WebSocketHandshake.Validate(request) is null ? dialect : null;
    }
}

/// <summary>The dialects mapped so far, by path (without a trailing slash, case-insensitive), shared by both paths.</summary>
internal sealed class DialectRegistry
{
    /// <summary>How served paths compare: ignoring case.</summary>
    public static readonly StringComparer PathComparer = StringComparer.OrdinalIgnoreCase;

    public Dictionary<string, IDialect> ByPath { get; } = new(PathComparer);

    /// <summary>The path a configured one (<c>Gateway:Tapr:Path</c>, <c>Gateway:Jac:Path</c>) is served at: one leading slash, no trailing one.</summary>
    public static string ServedPath(string configured) => "/" + configured.Trim('/');

    public void Add(string path, IDialect dialect) => ByPath[ServedPath(path)] = dialect;
}
