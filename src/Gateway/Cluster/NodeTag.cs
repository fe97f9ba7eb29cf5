using System.Globalization;
using Akka.Actor;

namespace Gateway.Cluster;

/// <summary>
/// A node's tag: 8 lowercase hex digits (FNV-1a of its remoting <c>host:port</c>) that the connection ids it
/// makes carry, so that a send or close by <c>conn_id</c> goes straight to the node that owns the socket, with
/// no directory to consult and no window in which a new id is unknown. The ids keep their contract shape
/// (PROTOCOL.md §3, §5): a TAPR UUID is still a lowercase UUIDv4 (the tag replaces its first 8 random hex
/// digits, leaving 90 random bits), a jac id still <c>&lt;epoch&gt;:&lt;32 hex&gt;</c> (the tag leads the hex).
/// Tags may collide (two nodes, one tag): routing then goes to both, which is still exactly once per socket.
/// </summary>
internal static class NodeTag
{
    /// <summary>The tag of the node at <paramref name="address"/> (its host and port as peers see them).</summary>
    public static string Of(Address address) => Of(address.Host ?? string.Empty, address.Port ?? 0);

    /// <summary>The tag of the node reachable at <paramref name="host"/>:<paramref name="port"/>.</summary>
    public static string Of(string host, int port)
    {
        const uint offset = 2166136261, prime = 16777619;
        var hash = offset;
        foreach (var c in string.Create(CultureInfo.InvariantCulture, $"{host}:{port}"))
        {
            hash = (hash ^ c) * prime;
        }

        return hash.ToString("x8", CultureInfo.InvariantCulture);
    }

    /// <summary>A new TAPR connection id: a lowercase UUIDv4 whose first 8 hex digits are <paramref name="tag"/> (plain when null).</summary>
    public static string NewUuid(string? tag)
    {
        var id = Guid.NewGuid().ToString();
        return tag is null ? id : string.Concat(tag, id.AsSpan(8));
    }

    /// <summary>Stamps a jac id (<c>&lt;epoch&gt;:&lt;32 hex&gt;</c>) with <paramref name="tag"/> (unchanged when null).</summary>
    public static string StampJac(string id, string? tag)
    {
        var colon = id.IndexOf(':', StringComparison.Ordinal);
        return tag is null || colon < 0 || id.Length - colon - 1 < 8 ? id : string.Concat(id.AsSpan(0, colon + 1), tag, id.AsSpan(colon + 9));
    }

    /// <summary>
    /// The tag a connection id carries, or null when it cannot carry one (a counter id, or any other shape):
    /// such an id is looked for on every node.
    /// </summary>
    public static string? Read(string connId)
    {
        if (connId.Length == 36 && connId[8] == '-' && IsHex(connId.AsSpan(0, 8)))
        {
            return connId[..8];
        }

        var colon = connId.IndexOf(':', StringComparison.Ordinal);
        if (colon > 0 && connId.Length - colon - 1 == 32 && IsHex(connId.AsSpan(colon + 1, 8)))
        {
            return connId.Substring(colon + 1, 8);
        }

        return null;
    }

    private static bool IsHex(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return true;
    }
}
