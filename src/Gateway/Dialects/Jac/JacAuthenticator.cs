using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Gateway.Dialects.Jac;

/// <summary>Who a jac token says the client is.</summary>
/// <param name="RootId">The user's root id (<c>n::&lt;24 hex&gt;</c>), or the public root.</param>
/// <param name="Token">The token when it was valid; "" for the public user.</param>
/// <param name="IsPublic">True for the public user (no token, or an invalid one).</param>
/// <param name="Reason">Why the token was not accepted (for the log); null when it was.</param>
internal sealed record JacAuthentication(string RootId, string Token, bool IsPublic, string? Reason);

/// <summary>
/// Validates jac-cloud tokens: HS256 JWTs signed with <c>Gateway:Jac:TokenSecret</c>. The token must
/// carry an expiry, either the standard <c>exp</c> or jac-cloud's own <c>expiration</c> claim (epoch
/// seconds), and every expiry it carries must be in the future (with the configured skew). The root id
/// comes from the configured claim; a bare 24-hex id is rendered <c>n::&lt;id&gt;</c> as jac-cloud does.
/// Anything else makes the connection the public user (jac-cloud's behaviour; it is logged).
/// </summary>
internal sealed class JacAuthenticator
{
    public const string PublicRoot = "n::000000000000000000000001";

    private readonly byte[]? _secret;
    private readonly string _rootIdClaim;
    private readonly TimeSpan _clockSkew;
    private readonly TimeProvider _time;
    private readonly JsonWebTokenHandler _handler = new();
    private readonly TokenValidationParameters? _parameters;

    public JacAuthenticator(string? secret, string rootIdClaim, TimeSpan clockSkew, TimeProvider? time = null)
    {
        _secret = string.IsNullOrEmpty(secret) ? null : Encoding.UTF8.GetBytes(secret);
        _rootIdClaim = rootIdClaim;
        _clockSkew = clockSkew;
        _time = time ?? TimeProvider.System;
        if (_secret is not null)
        {
            _parameters = new TokenValidationParameters
            {
                ValidateIssuer = false,
                ValidateAudience = false,
                ValidateIssuerSigningKey = false,
                ValidateLifetime = true,
                RequireExpirationTime = false, // either exp or jac-cloud's expiration, checked below
                RequireSignedTokens = true,
                ClockSkew = clockSkew,
                ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
                LifetimeValidator = (notBefore, expires, _, parameters) => ValidateLifetime(notBefore, expires),

                // HS256 checked here for secrets of any length (jac-cloud's need not be 256 bits).
                SignatureValidator = (token, _) => ValidateSignature(token),
            };
        }
    }

    /// <summary>True when a secret is configured (otherwise every connection is public).</summary>
    public bool HasSecret => _secret is not null;

    /// <summary>
    /// Strips a scheme word such as <c>Bearer </c> the way jac-cloud does: everything up to the first
    /// space, when there is one.
    /// </summary>
    public static string StripScheme(string value)
    {
        var space = value.IndexOf(' ', StringComparison.Ordinal);
        return space < 0 ? value : value[(space + 1)..];
    }

    public JacAuthentication Authenticate(string? token)
    {
        if (string.IsNullOrEmpty(token))
        {
            return Public("no token");
        }

        if (_parameters is null)
        {
            return Public("no Gateway:Jac:TokenSecret is configured");
        }

        TokenValidationResult result;
        try
        {
            // Completes synchronously: a symmetric key, no configuration manager or key retrieval. This runs on socket
            // event threads (InlineSocketCompletions), which must never wait; keep it that way.
            result = _handler.ValidateTokenAsync(token, _parameters).GetAwaiter().GetResult();
        }
        catch (Exception exception) when (exception is ArgumentException or SecurityTokenException)
        {
            return Public(exception.Message);
        }

        if (!result.IsValid || result.SecurityToken is not JsonWebToken jwt)
        {
            return Public(result.Exception?.Message ?? "invalid token");
        }

        // The signature and exp/nbf are checked; read the remaining claims from the payload as sent.
        using var payload = JsonDocument.Parse(Base64UrlEncoder.DecodeBytes(jwt.EncodedPayload));
        var claims = payload.RootElement;
        var now = _time.GetUtcNow().ToUnixTimeSeconds();
        var hasExp = claims.TryGetProperty("exp", out _);
        if (claims.TryGetProperty("expiration", out var expiration))
        {
            if (expiration.ValueKind != JsonValueKind.Number || expiration.GetDouble() + _clockSkew.TotalSeconds <= now)
            {
                return Public("token expired (expiration)");
            }
        }
        else if (!hasExp)
        {
            return Public("token has no expiry (exp or expiration)");
        }

        if (!claims.TryGetProperty(_rootIdClaim, out var root) || root.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(root.GetString()))
        {
            return Public($"token has no string claim '{_rootIdClaim}'");
        }

        return new JacAuthentication(NormalizeRootId(root.GetString()!), token, false, null);
    }

    /// <summary>jac-cloud puts a bare ObjectId in the token and <c>n::&lt;id&gt;</c> on the wire.</summary>
    public static string NormalizeRootId(string value) =>
        value.Length == 24 && value.All(char.IsAsciiHexDigit) ? "n::" + value.ToLowerInvariant() : value;

    private static JacAuthentication Public(string reason) => new(PublicRoot, string.Empty, true, reason);

    private bool ValidateLifetime(DateTime? notBefore, DateTime? expires)
    {
        var now = _time.GetUtcNow().UtcDateTime;
        if (notBefore is { } nbf && nbf > now + _clockSkew)
        {
            throw new SecurityTokenNotYetValidException("token not valid yet (nbf)");
        }

        if (expires is { } exp && exp + _clockSkew <= now)
        {
            throw new SecurityTokenExpiredException("token expired (exp)");
        }

        return true;
    }

    private JsonWebToken ValidateSignature(string token)
    {
        var jwt = new JsonWebToken(token);
        if (!string.Equals(jwt.Alg, SecurityAlgorithms.HmacSha256, StringComparison.Ordinal))
        {
            throw new SecurityTokenInvalidAlgorithmException($"algorithm '{jwt.Alg}' is not accepted; use HS256");
        }

        var lastDot = token.LastIndexOf('.');
        var signature = Base64UrlEncoder.DecodeBytes(token[(lastDot + 1)..]);
        var expected = HMACSHA256.HashData(_secret!, Encoding.ASCII.GetBytes(token[..lastDot]));
        if (!CryptographicOperations.FixedTimeEquals(signature, expected))
        {
            throw new SecurityTokenInvalidSignatureException("invalid signature");
        }

        return jwt;
    }
}
