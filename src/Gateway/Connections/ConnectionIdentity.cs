using System.Security.Cryptography;
using System.Text;

namespace Gateway.Connections;

/// <summary>A connection's id: a UUID or counter (TAPR) or a client id (jac).</summary>
public readonly record struct ConnectionId(string Value)
{
    public override string ToString() => Value;
}

/// <summary>Which client dialect a connection speaks.</summary>
public enum Dialect
{
    Tapr,
    Jac,
}

/// <summary>
/// Who a connection is. Fixed at the upgrade, except <see cref="User"/>, <see cref="Token"/> and
/// <see cref="AccessPublic"/>, which a jac <c>change_user</c> replaces (with a new record).
/// </summary>
public sealed record ConnectionIdentity(
    ConnectionId Id,
    Dialect Dialect,
    string User,
    string Token,
    bool AccessPublic,
    string UserAgent,
    string Cookie,
    string? Channel,
    DateTimeOffset ConnectedAt)
{
    // Derived values are computed when asked (list, MD5 token filters), not cached: a cache would be a
    // field, and fields take part in a record's equality and are copied by `with`.

    /// <summary>Lowercase hex MD5 of the User-Agent; "" when it is empty (Olares).</summary>
    public string UserAgentTag => UserAgent.Length == 0 ? string.Empty : Md5Hex(UserAgent);

    /// <summary>Lowercase hex MD5 of the token, which admin filters may also name.</summary>
    public string TokenMd5 => Md5Hex(Token);

    /// <summary>The same connection under another user (jac <c>change_user</c>).</summary>
    public ConnectionIdentity WithUser(string user, string token, bool accessPublic) =>
        new(Id, Dialect, user, token, accessPublic, UserAgent, Cookie, Channel, ConnectedAt);

    public static string Md5Hex(string text) => Convert.ToHexStringLower(MD5.HashData(Encoding.UTF8.GetBytes(text)));
}
