using System.IO.Pipelines;
using Akka.Actor;
using Gateway.Connections;
using Gateway.Hosting;
using Gateway.Registry;
using Gateway.Users;
using Gateway.WebSockets;

namespace Gateway.Dialects;

/// <summary>How a session answers its client before and at the upgrade; one implementation per path.</summary>
internal interface IUpgradeTransport
{
    /// <summary>Cancelled when the client's connection is gone.</summary>
    CancellationToken ConnectionClosed { get; }

    /// <summary>Whether the server can switch this request's connection to another protocol (Kestrel's <c>IsUpgradableRequest</c>).</summary>
    bool CanUpgrade { get; }

    /// <summary>
    /// Whether the transport reads from the socket ahead of the read loop on its own (Kestrel's pipes do, and signal a
    /// client that leaves); when it does not, the read loop reads ahead itself while it holds back.
    /// </summary>
    bool ReadsAhead { get; }

    /// <summary>Refuses the upgrade with an HTTP status and a short text body.</summary>
    Task RefuseAsync(int status, string body, params (string Name, string Value)[] headers);

    /// <summary>Sends 101 Switching Protocols and returns the pipes the WebSocket runs over.</summary>
    Task<(PipeReader Input, PipeWriter Output)> AcceptAsync(string key, string? subprotocol);

    /// <summary>Drops the TCP connection.</summary>
    void Abort();
}

/// <summary>
/// Serves one client socket once its request is known to be for a dialect's path: refuses what is
/// not a WebSocket upgrade (426) or over the connection limit (503), upgrades, registers the
/// connection with the registry, and runs the read loop until the socket ends. Nothing here decides
/// anything about messages: the dialect's handler tells the connection actor.
/// </summary>
internal static partial class ConnectionSession
{
    private static readonly TimeSpan RegistrationTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Refuses the upgrade, or upgrades and registers the socket; null when there is nothing more to do.
    /// The caller then awaits <see cref="Session.RunAsync"/>. The request is only read here: what lives as
    /// long as the socket is the caller's frame and the connection's read loop, nothing of the handshake.
    /// </summary>
    public static Task<Session?> OpenAsync(UpgradeRequest request, IUpgradeTransport transport, IDialect dialect, GatewayRuntime runtime, ConnectionLimiter limiter, ILogger log) =>
        OpenCoreAsync(request, transport, dialect, runtime, limiter, log);

    /// <summary>Serves a socket that came through Kestrel's HTTP stack (<c>wss://</c>, or with the lean path off).</summary>
    public static async Task ServeHttpAsync(HttpContext context, IDialect dialect, GatewayRuntime runtime, ConnectionLimiter limiter, ILogger log)
    {
        try
        {
            if (await OpenAsync(UpgradeRequest.From(context), new HttpUpgradeTransport(context), dialect, runtime, limiter, log).ConfigureAwait(false) is { } session)
            {
                await session.RunAsync(context.RequestAborted).ConfigureAwait(false);
            }
        }
        catch (Exception exception) when (WebSocketUpgradeMiddleware.IsConnectionGone(exception))
        {
            // The client went away during the handshake: not an application error for Kestrel to log.
            Log.ConnectionGone(log, exception.GetType().Name, exception.Message);
        }
    }

    private static Task<Session?> OpenCoreAsync(UpgradeRequest request, IUpgradeTransport transport, IDialect dialect, GatewayRuntime runtime, ConnectionLimiter limiter, ILogger log)
    {
        // One validation of the whole head for both paths (RFC 9110/9112, RFC 6455 §4.2.1); a client's
        // mistake is a 4xx and a debug line, never a 500 or a stack trace.
        var refusal = WebSocketHandshake.Validate(request);
        if (refusal is null && !transport.CanUpgrade)
        {
            refusal = HandshakeRefusal.BadRequest("This request cannot be upgraded");
        }

        if (refusal is null && !dialect.Origins.IsAllowed(request["Origin"]))
        {
            // Before the upgrade and before identifying anyone: a foreign page must not ride on the victim's cookie.
            runtime.Metrics.ConnectionRejected("origin");
            refusal = new HandshakeRefusal(StatusCodes.Status403Forbidden, "Origin not allowed", []);
        }

        if (refusal is not null)
        {
            Log.UpgradeRefused(log, refusal.Status, refusal.Body);
            return Refuse(transport.RefuseAsync(refusal.Status, refusal.Body, refusal.Headers));
        }

        var (identity, status) = dialect.Identify(request);
        if (identity is null)
        {
            runtime.Metrics.ConnectionRejected("identity");
            return Refuse(transport.RefuseAsync(status, status == StatusCodes.Status401Unauthorized ? "Unauthorized" : "Refused"));
        }

        if (!limiter.TryAcquire())
        {
            return Refuse(transport.RefuseAsync(StatusCodes.Status503ServiceUnavailable, limiter.IsClosed ? "Shutting down" : "Connection limit reached", ("Retry-After", "5")));
        }

        var key = request["Sec-WebSocket-Key"].ToString();
        var subprotocol = WebSocketHandshake.SelectSubprotocol(request);
        return UpgradeAndRegisterAsync(identity, key, subprotocol, transport, dialect, runtime, limiter, log);
    }

    private static async Task<Session?> Refuse(Task refusal)
    {
        await refusal.ConfigureAwait(false);
        return null;
    }

    private static async Task<Session?> UpgradeAndRegisterAsync(ConnectionIdentity identity, string key, string? subprotocol, IUpgradeTransport transport, IDialect dialect, GatewayRuntime runtime, ConnectionLimiter limiter, ILogger log)
    {
        var socketTransport = new SocketTransport(transport, runtime.Metrics, identity.Dialect, runtime.Metrics.ConnectionOpened(identity.Dialect), limiter);
        WebSocketConnection connection;
        try
        {
            var (input, output) = await transport.AcceptAsync(key, subprotocol).ConfigureAwait(false);
            connection = new WebSocketConnection(input, output, socketTransport, dialect.Socket, log, runtime.Metrics, readAhead: !transport.ReadsAhead);
        }
        catch
        {
            socketTransport.OnEnded(CloseCodes.Abnormal);
            throw;
        }

        var flow = runtime.NewInboundFlow();
        try
        {
            dialect.Greet(identity, connection);
            var attached = await runtime.Registry.Ask<UserProtocol.ConnectionAttached>(
                new RegistryProtocol.RegisterConnection(identity, connection, flow), RegistrationTimeout).ConfigureAwait(false);
            return new Session(connection, dialect.CreateHandler(identity, attached.Connection, flow), flow);
        }
        catch (Exception exception)
        {
            Log.RegistrationFailed(log, identity.Id.Value, exception.Message);
            runtime.Registry.Tell(new RegistryProtocol.AbandonConnection(identity.Id));
            var shuttingDown = exception is RegistryProtocol.ShuttingDownException;
            connection.Close(shuttingDown ? CloseCodes.GoingAway : CloseCodes.TryAgainLater, shuttingDown ? "gateway shutting down" : "try again later");
            return new Session(connection, IgnoringHandler.Instance, flow);
        }
    }

    /// <summary>An upgraded, registered socket, ready to run; its slot is released when it ends.</summary>
    internal sealed record Session(WebSocketConnection Connection, IInboundHandler Handler, InboundFlow Flow)
    {
        /// <summary>Runs the socket's read loop until the connection has ended.</summary>
        public Task RunAsync(CancellationToken connectionClosed) => Connection.RunAsync(Handler, Flow, connectionClosed);
    }

    /// <summary>
    /// An upgraded socket's hold on its transport and its connection slot: drops the transport when the socket aborts,
    /// and records the close and frees the slot when it ends. One object for the socket's life (not two delegates and
    /// a closure).
    /// </summary>
    private sealed class SocketTransport(IUpgradeTransport transport, GatewayMetrics metrics, Dialect dialect, long openedAt, ConnectionLimiter limiter) : ISocketTransport
    {
        public void Abort() => transport.Abort();

        public void OnEnded(int code)
        {
            metrics.ConnectionClosed(dialect, code, openedAt);
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
        [LoggerMessage(EventId = 802, Level = LogLevel.Debug, Message = "Connection ended during the opening handshake: {ExceptionType}: {Message}")]
        public static partial void ConnectionGone(ILogger logger, string exceptionType, string message);

        [LoggerMessage(EventId = 801, Level = LogLevel.Debug, Message = "Upgrade refused with {Status}: {Reason}")]
        public static partial void UpgradeRefused(ILogger logger, int status, string reason);

        [LoggerMessage(EventId = 800, Level = LogLevel.Warning, Message = "Connection {ConnectionId} could not be registered: {Reason}")]
        public static partial void RegistrationFailed(ILogger logger, string connectionId, string reason);
    }
}
