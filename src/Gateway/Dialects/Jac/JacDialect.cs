using System.Globalization;
using Akka.Actor;
using Gateway.Cluster;
using Gateway.Connections;
using Gateway.Hosting;
using Gateway.WebSockets;

namespace Gateway.Dialects.Jac;

/// <summary>
/// The jac-cloud dialect (PROTOCOL.md §5): identity from <c>Authorization: Bearer</c> or <c>?auth=</c>,
/// <c>&lt;epoch&gt;:&lt;hex&gt;</c> client and channel ids, the connection event on accept, and client events
/// for direct messages, re-authentication and walkers.
/// </summary>
internal sealed partial class JacDialect(JacAuthenticator authenticator, GatewayMetrics metrics, ILogger log, WebSocketSettings socket, OriginPolicy origins, ClusterMembership? membership = null) : IDialect
{
    /// <summary>The runtime's socket settings with <c>Gateway:Jac:MaxMessageBytes</c> (16 MiB, jac-cloud's) as the message bound.</summary>
    public WebSocketSettings Socket { get; } = socket;

    /// <summary><c>Gateway:Jac:AllowedOrigins</c>.</summary>
    public OriginPolicy Origins { get; } = origins;

    public (ConnectionIdentity? Identity, int RefusalStatus) Identify(UpgradeRequest request)
    {
        var token = HandshakeToken(request);
        var authentication = authenticator.Authenticate(token);
        if (authentication.IsPublic && token is not null)
        {
            Log.PublicFallback(log, authentication.Reason ?? "invalid token");
        }

        var channel = request.Query("channel_id");
        var identity = new ConnectionIdentity(
            new ConnectionId(NodeTag.StampJac(NewId(), membership?.NodeTag)),
            Dialect.Jac,
            authentication.RootId,
            authentication.Token,
            authentication.IsPublic,
            request.Last("User-Agent"),
            request.CookieHeader,
            string.IsNullOrEmpty(channel) ? NewId() : channel,
            DateTimeOffset.UtcNow);
        return (identity, 0);
    }

    public void Greet(ConnectionIdentity identity, IOutbox outbox) => outbox.TryEnqueue(JacFrames.ConnectionEvent(identity));

    public IInboundHandler CreateHandler(ConnectionIdentity identity, IActorRef connection, InboundFlow flow) =>
        new JacInboundHandler(identity, connection, flow, authenticator, metrics, log);

    /// <summary>A jac id: epoch seconds, a colon, 32 lowercase hex digits.</summary>
    public static string NewId() =>
        string.Create(CultureInfo.InvariantCulture, $"{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}:{Guid.NewGuid():N}");

    /// <summary>
    /// The token the client connected with: a non-empty <c>?auth=</c> wins (with or without a scheme word
    /// such as <c>Bearer </c>), else an <c>Authorization</c> header starting with "bearer".
    /// </summary>
    private static string? HandshakeToken(UpgradeRequest request)
    {
        var query = request.Query("auth");
        if (!string.IsNullOrEmpty(query))
        {
            return JacAuthenticator.StripScheme(query);
        }

        var header = request.Last("Authorization");
        return header.StartsWith("bearer", StringComparison.OrdinalIgnoreCase) && header.Contains(' ', StringComparison.Ordinal)
            ? JacAuthenticator.StripScheme(header)
            : null;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1000, Level = LogLevel.Information, Message = "jac connection accepted as the public user: {Reason}")]
        public static partial void PublicFallback(ILogger logger, string reason);
    }
}
