using Gateway.Actor;
using Gateway.Hosting;
using Gateway.Registry;
using Gateway.Users;
using Gateway.WebSockets;

namespace Gateway.Dialects;

/// <summary>
/// Serves one client socket: refuses what is not a WebSocket upgrade (426) or over the connection
/// limit (503), upgrades, registers the connection with the registry, and runs the read loop until
/// the socket ends. Nothing here decides anything about messages: the dialect's handler tells the
/// connection actor.
/// </summary>
internal static partial class DialectEndpoint
{
    private static readonly TimeSpan RegistrationTimeout = TimeSpan.FromSeconds(10);

    public static async Task ServeAsync(HttpContext context, IDialect dialect, GatewayRuntime runtime, ConnectionLimiter limiter, ILogger log)
    {
        switch (WebSocketHandshake.Inspect(context))
        {
            case WebSocketHandshake.Verdict.NotAnUpgrade:
                context.Response.StatusCode = StatusCodes.Status426UpgradeRequired;
                context.Response.Headers.Upgrade = "websocket";
                await context.Response.WriteAsync("Upgrade Required").ConfigureAwait(false);
                return;
            case WebSocketHandshake.Verdict.UnsupportedVersion:
                context.Response.StatusCode = StatusCodes.Status426UpgradeRequired;
                context.Response.Headers.SecWebSocketVersion = "13";
                await context.Response.WriteAsync("Unsupported WebSocket version: use 13").ConfigureAwait(false);
                return;
            case WebSocketHandshake.Verdict.BadRequest:
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
                await context.Response.WriteAsync("Invalid Sec-WebSocket-Key").ConfigureAwait(false);
                return;
        }

        var (identity, refusal) = dialect.Identify(context);
        if (identity is null)
        {
            context.Response.StatusCode = refusal;
            return;
        }

        if (!limiter.TryAcquire())
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            context.Response.Headers.RetryAfter = "5";
            await context.Response.WriteAsync(limiter.IsClosed ? "Shutting down" : "Connection limit reached").ConfigureAwait(false);
            return;
        }

        runtime.Metrics.ConnectionOpened();
        try
        {
            var stream = await WebSocketHandshake.AcceptAsync(context, WebSocketHandshake.SelectSubprotocol(context.Request)).ConfigureAwait(false);
            var connection = new WebSocketConnection(stream, context.Abort, runtime.Socket, log, runtime.Metrics);
            var flow = runtime.NewInboundFlow();
            dialect.Greet(identity, connection);

            IActorRef actor;
            try
            {
                var attached = await runtime.Registry.Ask<UserProtocol.ConnectionAttached>(
                    new RegistryProtocol.RegisterConnection(identity, connection, flow), RegistrationTimeout).ConfigureAwait(false);
                actor = attached.Connection;
            }
            catch (Exception exception)
            {
                Log.RegistrationFailed(log, identity.Id.Value, exception.Message);
                runtime.Registry.Tell(new RegistryProtocol.AbandonConnection(identity.Id));
                var shuttingDown = exception is RegistryProtocol.ShuttingDownException;
                connection.Close(shuttingDown ? CloseCodes.GoingAway : CloseCodes.TryAgainLater, shuttingDown ? "gateway shutting down" : "try again later");
                await connection.RunAsync(IgnoringHandler.Instance, flow, context.RequestAborted).ConfigureAwait(false);
                return;
            }

            await connection.RunAsync(dialect.CreateHandler(identity, actor, flow), flow, context.RequestAborted).ConfigureAwait(false);
        }
        finally
        {
            runtime.Metrics.ConnectionClosed();
            limiter.Release();
        }
    }

    /// <summary>Reads a socket that could not be registered until its close completes.</summary>
    private sealed class IgnoringHandler : IInboundHandler
    {
        public static readonly IgnoringHandler Instance = new();

        public void OnMessage(byte[] payload, bool isText)
        {
        }

        public void OnHeartbeat()
        {
        }

        public void OnClosed(int code, string reason)
        {
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 800, Level = LogLevel.Warning, Message = "Connection {ConnectionId} could not be registered: {Reason}")]
        public static partial void RegistrationFailed(ILogger logger, string connectionId, string reason);
    }
}
