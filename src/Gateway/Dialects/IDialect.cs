using Akka.Actor;
using Gateway.Connections;
using Gateway.WebSockets;

namespace Gateway.Dialects;

/// <summary>
/// A client dialect: an edge adapter that identifies a connecting client, greets it, and turns its
/// frames into the gateway's messages. Both dialects share the same actors.
/// </summary>
internal interface IDialect
{
    /// <summary>Socket bounds of this dialect's connections (its inbound message size limit among them).</summary>
    WebSocketSettings Socket { get; }

    /// <summary>Which browser origins may open a socket (checked before the upgrade; 403 otherwise).</summary>
    OriginPolicy Origins { get; }

    /// <summary>Who is connecting, or the HTTP status that refuses them before the upgrade.</summary>
    (ConnectionIdentity? Identity, int RefusalStatus) Identify(UpgradeRequest request);

    /// <summary>Frames written before anything else, right after the upgrade.</summary>
    void Greet(ConnectionIdentity identity, IOutbox outbox);

    /// <summary>The read loop's handler, telling the connection actor what arrives.</summary>
    IInboundHandler CreateHandler(ConnectionIdentity identity, IActorRef connection, InboundFlow flow);
}
