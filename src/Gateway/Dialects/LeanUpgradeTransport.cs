using System.IO.Pipelines;
using Gateway.WebSockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.WebUtilities;

namespace Gateway.Dialects;

/// <summary>
/// The lean path: the upgrade request was read straight off the connection by
/// <see cref="WebSocketUpgradeMiddleware"/>, and the WebSocket runs over the transport's own pipes, with
/// no HTTP request, context, stream adapters or copies kept alive for the socket's lifetime.
/// </summary>
internal sealed class LeanUpgradeTransport(ConnectionContext connection) : IUpgradeTransport
{
    public CancellationToken ConnectionClosed => connection.ConnectionClosed;

    public bool CanUpgrade => true;

    public bool ReadsAhead => true;

    public async Task RefuseAsync(int status, string body, params (string Name, string Value)[] headers)
    {
        var reason = ReasonPhrases.GetReasonPhrase(status);
        await connection.Transport.Output.WriteAsync(WebSocketHandshake.PlainResponse(status, reason, body, headers)).ConfigureAwait(false);
    }

    public async Task<(PipeReader Input, PipeWriter Output)> AcceptAsync(string key, string? subprotocol)
    {
        await connection.Transport.Output.WriteAsync(WebSocketHandshake.SwitchingProtocols(key, subprotocol)).ConfigureAwait(false);
        return (connection.Transport.Input, connection.Transport.Output);
    }

    public void Abort() => connection.Abort(new ConnectionAbortedException("The WebSocket was dropped by the gateway."));
}
