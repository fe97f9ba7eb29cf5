using System.Globalization;
using Akka.Actor;
using Gateway.Cluster;
using Gateway.Connections;
using Gateway.Hosting;
using Gateway.WebSockets;

namespace Gateway.Dialects.Tapr;

/// <summary>
/// The Olares TAPR dialect (PROTOCOL.md §3): the user from <c>X-Bfl-User</c> (verbatim, "" when
/// absent), the token from the <c>auth_token</c> cookie (a random UUID and <c>access_public</c> when
/// absent), a UUID (or counter) connection id, nothing sent on connect unless asked.
/// </summary>
internal sealed class TaprDialect(TaprOptions options, GatewayMetrics metrics, WebSocketSettings socket, ClusterMembership? membership = null) : IDialect
{
    private long _counter;

    /// <summary>The runtime's socket settings: <c>Gateway:Limits:MaxMessageBytes</c> (1 MiB) bounds a message.</summary>
    public WebSocketSettings Socket { get; } = socket;

    /// <summary><c>Gateway:Tapr:AllowedOrigins</c>.</summary>
    public OriginPolicy Origins { get; } = new(options.AllowedOrigins);

    public (ConnectionIdentity? Identity, int RefusalStatus) Identify(UpgradeRequest request)
    {
        if (!request.Has(options.UserHeader) && options.RequireUser)
        {
            return (null, StatusCodes.Status401Unauthorized);
        }

        // A repeated header: the last value wins, as in Olares's header map.
        var user = request.Last(options.UserHeader);
        var token = request.Cookie(options.TokenCookie);
        var accessPublic = string.IsNullOrEmpty(token);
        if (accessPublic)
        {
            token = Guid.NewGuid().ToString();
        }

        var id = string.Equals(options.ConnIdFormat, "counter", StringComparison.OrdinalIgnoreCase)
            ? Interlocked.Increment(ref _counter).ToString(CultureInfo.InvariantCulture)
            : NodeTag.NewUuid(membership?.NodeTag);

        return (new ConnectionIdentity(
            new ConnectionId(id),
            Dialect.Tapr,
            user,
            token!,
            accessPublic,
            request.Last("User-Agent"),
            request.CookieHeader,
            Channel: null,
            DateTimeOffset.UtcNow), 0);
    }

    public void Greet(ConnectionIdentity identity, IOutbox outbox)
    {
        if (options.SendHello)
        {
            outbox.TryEnqueue(OutboundMessage.Text($"{{\"event\":\"connected\",\"data\":{{\"conn_id\":\"{identity.Id.Value}\"}}}}"));
        }
    }

    public IInboundHandler CreateHandler(ConnectionIdentity identity, IActorRef connection, InboundFlow flow) =>
        new TaprInboundHandler(connection, flow, metrics);
}
