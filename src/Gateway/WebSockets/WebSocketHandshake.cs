using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Primitives;

namespace Gateway.WebSockets;

/// <summary>The server side of the RFC 6455 opening handshake, over Kestrel's HTTP/1.1 upgrade.</summary>
internal static class WebSocketHandshake
{
    private const string AcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

    /// <summary>Why a request cannot be upgraded.</summary>
    public enum Verdict
    {
        Upgrade,
        NotAnUpgrade,
        BadRequest,
        UnsupportedVersion,
    }

    /// <summary>Checks the request is a well-formed WebSocket upgrade (GET, Upgrade: websocket, Connection: Upgrade, version 13, 16-byte key).</summary>
    public static Verdict Inspect(UpgradeRequest request)
    {
        if (!HttpMethods.IsGet(request.Method) || !HasToken(request["Upgrade"], "websocket") || !HasToken(request["Connection"], "upgrade"))
        {
            return Verdict.NotAnUpgrade;
        }

        if (!string.Equals(request["Sec-WebSocket-Version"].ToString(), "13", StringComparison.Ordinal))
        {
            return Verdict.UnsupportedVersion;
        }

        return IsValidKey(request["Sec-WebSocket-Key"].ToString()) ? Verdict.Upgrade : Verdict.BadRequest;
    }

    /// <summary>
    /// The subprotocol to answer with: the first one the client offers. Olares echoes the whole list,
    /// which browsers reject when more than one is offered; RFC 6455 has the server select one.
    /// </summary>
    public static string? SelectSubprotocol(UpgradeRequest request)
    {
        foreach (var value in request["Sec-WebSocket-Protocol"])
        {
            foreach (var candidate in (value ?? string.Empty).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>The 101 response for the lean path, which writes straight to the connection.</summary>
    public static byte[] SwitchingProtocols(string key, string? subprotocol)
    {
        var response = new StringBuilder("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: ");
        response.Append(ComputeAccept(key)).Append("\r\n");
        if (subprotocol is not null)
        {
            response.Append("Sec-WebSocket-Protocol: ").Append(subprotocol).Append("\r\n");
        }

        return Encoding.ASCII.GetBytes(response.Append("\r\n").ToString());
    }

    /// <summary>A complete short HTTP response that closes the connection, for refusals on the lean path.</summary>
    public static byte[] PlainResponse(int status, string reason, string body, IEnumerable<(string Name, string Value)> headers)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        var response = new StringBuilder($"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {bytes.Length}\r\nConnection: close\r\n");
        foreach (var (name, value) in headers)
        {
            response.Append(name).Append(": ").Append(value).Append("\r\n");
        }

        return [.. Encoding.ASCII.GetBytes(response.Append("\r\n").ToString()), .. bytes];
    }

    /// <summary>Sends the 101 response and returns the raw duplex stream.</summary>
    public static async Task<Stream> AcceptAsync(HttpContext context, string key, string? subprotocol)
    {
        var response = context.Response;
        response.StatusCode = StatusCodes.Status101SwitchingProtocols;
        response.Headers.Connection = "Upgrade";
        response.Headers.Upgrade = "websocket";
        response.Headers.SecWebSocketAccept = ComputeAccept(key);
        if (subprotocol is not null)
        {
            response.Headers.SecWebSocketProtocol = subprotocol;
        }

        // A WebSocket lives as long as its client wants: Kestrel's body and response rate limits
        // would drop idle or slow sockets with no close frame; the gateway enforces its own limits.
        if (context.Features.Get<IHttpMinRequestBodyDataRateFeature>() is { } requestRate)
        {
            requestRate.MinDataRate = null;
        }

        if (context.Features.Get<IHttpMinResponseDataRateFeature>() is { } responseRate)
        {
            responseRate.MinDataRate = null;
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodySize)
        {
            bodySize.MaxRequestBodySize = null;
        }

        return await context.Features.Get<IHttpUpgradeFeature>()!.UpgradeAsync().ConfigureAwait(false);
    }

    /// <summary>base64(SHA-1(key + GUID)), RFC 6455 §4.2.2.</summary>
    public static string ComputeAccept(string key)
    {
        Span<byte> hash = stackalloc byte[20];
        SHA1.HashData(Encoding.ASCII.GetBytes(key + AcceptGuid), hash);
        return Convert.ToBase64String(hash);
    }

    private static bool IsValidKey(string key)
    {
        Span<byte> decoded = stackalloc byte[24];
        return key.Length == 24 && Convert.TryFromBase64String(key, decoded, out var written) && written == 16;
    }

    private static bool HasToken(StringValues values, string token)
    {
        foreach (var value in values)
        {
            foreach (var part in (value ?? string.Empty).Split(',', StringSplitOptions.TrimEntries))
            {
                if (string.Equals(part, token, StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
        }

        return false;
    }
}
