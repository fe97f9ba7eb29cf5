using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Gateway.IntegrationTests.Browser;

/// <summary>HS256 JSON Web Tokens as jac-cloud issues them, made with <see cref="HMACSHA256"/>.</summary>
public static class HmacJwt
{
    /// <summary>A random 24-hex root id, as the <c>root_id</c> claim carries it (the wire shows <c>n::&lt;hex&gt;</c>).</summary>
    public static string NewRootId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));

    /// <summary>A token for <paramref name="rootId"/> signed with <paramref name="secret"/>, expiring in an hour.</summary>
    public static string Create(string secret, string rootId)
    {
        var header = Encode(JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object> { ["alg"] = "HS256", ["typ"] = "JWT" }));
        var payload = Encode(JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            ["root_id"] = rootId,
            ["exp"] = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds(),
        }));
        var signingInput = header + "." + payload;
        var signature = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.ASCII.GetBytes(signingInput));
        return signingInput + "." + Encode(signature);
    }

    private static string Encode(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
