using Microsoft.Extensions.Primitives;

namespace Gateway.Dialects;

/// <summary>
/// Which browser origins may open a dialect's sockets (<c>Gateway:Tapr:AllowedOrigins</c>,
/// <c>Gateway:Jac:AllowedOrigins</c>). A browser sends the page's <c>Origin</c> with every WebSocket
/// upgrade (RFC 6455 §4.1 item 8, §10.2) and attaches the site's cookies to it, so without a check any
/// page a victim visits can open a socket with the victim's <c>auth_token</c> cookie
/// (cross-site WebSocket hijacking).
/// </summary>
/// <remarks>
/// Empty list: every origin is allowed (Olares's behaviour). Otherwise an <c>Origin</c> must equal one of
/// the entries (ASCII case-insensitive, as origins serialize scheme and host in lowercase; a trailing
/// slash in an entry is ignored), else the upgrade is refused with 403. A request without <c>Origin</c>
/// is not from a browser and is allowed; one with several <c>Origin</c> headers is refused.
/// </remarks>
internal sealed class OriginPolicy
{
    private readonly HashSet<string> _allowed;

    public OriginPolicy(IEnumerable<string>? allowed)
    {
        _allowed = new HashSet<string>(
            (allowed ?? []).Select(static origin => origin.Trim().TrimEnd('/')).Where(static origin => origin.Length > 0),
            StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>Allows every origin.</summary>
    public static OriginPolicy AllowAll { get; } = new(null);

    /// <summary>True when the list is empty (every origin allowed).</summary>
    public bool AllowsAll => _allowed.Count == 0;

    /// <summary>Whether a request carrying these <c>Origin</c> values may upgrade.</summary>
    public bool IsAllowed(StringValues origin) =>
        AllowsAll || origin.Count == 0 || (origin.Count == 1 && origin[0] is { } value && _allowed.Contains(value));
}
