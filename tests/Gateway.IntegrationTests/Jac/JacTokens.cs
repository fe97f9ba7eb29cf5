using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Gateway.IntegrationTests.Jac;

/// <summary>
/// HS256 JWTs made the way jac-cloud makes them: HMAC-SHA256 over <c>base64url(header).base64url(payload)</c>,
/// with the payload's JSON exactly as given (so tests choose the claims, their types and their order).
/// </summary>
public static class JacTokens
{
    /// <summary>The secret the jac fixtures' gateways are configured with; deliberately shorter than 256 bits, as jac-cloud allows.</summary>
    public const string Secret = "jac-integration-secret";

    private const string Hs256Header = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

    /// <summary>An epoch-seconds time one hour from now.</summary>
    public static long Future => DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds();

    /// <summary>An epoch-seconds time one hour ago (well beyond any clock skew).</summary>
    public static long Past => DateTimeOffset.UtcNow.AddHours(-1).ToUnixTimeSeconds();

    /// <summary>A fresh 24-hex root id claim, as jac-cloud's ObjectIds are.</summary>
    public static string NewRootHex() => RandomNumberGenerator.GetHexString(24, lowercase: true);

    /// <summary>A valid token for <paramref name="rootHex"/> with a standard <c>exp</c>.</summary>
    public static string ForRoot(string rootHex, string secret = Secret) =>
        Sign($"{{\"root_id\":\"{rootHex}\",\"exp\":{Future}}}", secret);

    /// <summary>A token over <paramref name="payloadJson"/>, signed HS256 with <paramref name="secret"/> (or a header of choice).</summary>
    public static string Sign(string payloadJson, string secret = Secret, string headerJson = Hs256Header)
    {
        var signingInput = Encode(headerJson) + "." + Encode(payloadJson);
        var signature = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.ASCII.GetBytes(signingInput));
        return signingInput + "." + Base64Url.EncodeToString(signature);
    }

    /// <summary>A token over <paramref name="payloadJson"/> signed with HS512 (header <c>"alg":"HS512"</c>).</summary>
    public static string SignHs512(string payloadJson, string secret = Secret)
    {
        var signingInput = Encode("{\"alg\":\"HS512\",\"typ\":\"JWT\"}") + "." + Encode(payloadJson);
        var signature = HMACSHA512.HashData(Encoding.UTF8.GetBytes(secret), Encoding.ASCII.GetBytes(signingInput));
        return signingInput + "." + Base64Url.EncodeToString(signature);
    }

    /// <summary>An unsigned token: header <c>"alg":"none"</c> and an empty signature.</summary>
    public static string Unsigned(string payloadJson) => Encode("{\"alg\":\"none\",\"typ\":\"JWT\"}") + "." + Encode(payloadJson) + ".";

    /// <summary>base64url of the UTF-8 of <paramref name="json"/>, no padding.</summary>
    public static string Encode(string json) => Base64Url.EncodeToString(Encoding.UTF8.GetBytes(json));
}
