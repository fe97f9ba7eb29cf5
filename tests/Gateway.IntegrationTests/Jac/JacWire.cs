using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Gateway.IntegrationTests.Jac;

/// <summary>The jac frames PROTOCOL.md §5 fixes, as the exact text a client must receive.</summary>
public static partial class JacWire
{
    /// <summary>The public user's root id.</summary>
    public const string PublicRoot = "n::000000000000000000000001";

    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The wire root id of a 24-hex claim.</summary>
    public static string Root(string rootHex) => "n::" + rootHex;

    /// <summary><c>{"type":"connection","data":{"client_id":…,"root_id":…,"channel_id":…}}</c>.</summary>
    public static string ConnectionEvent(string clientId, string rootId, string channelId) =>
        $"{{\"type\":\"connection\",\"data\":{{\"client_id\":{Quote(clientId)},\"root_id\":{Quote(rootId)},\"channel_id\":{Quote(channelId)}}}}}";

    /// <summary><paramref name="text"/> as a JSON string literal with only the escapes JSON requires.</summary>
    public static string Quote(string text) => JsonSerializer.Serialize(text, Relaxed);

    /// <summary>A JSON array of strings.</summary>
    public static string Array(params string[] items) => "[" + string.Join(',', items.Select(Quote)) + "]";

    /// <summary>
    /// Asserts <paramref name="id"/> is a jac id, <c>&lt;epoch seconds&gt;:&lt;32 lowercase hex&gt;</c>, whose
    /// seconds lie within [<paramref name="from"/>, <paramref name="to"/>].
    /// </summary>
    public static void AssertId(string id, long from, long to)
    {
        var match = IdFormat().Match(id);
        Assert.True(match.Success, $"\"{id}\" is not <epoch seconds>:<32 lowercase hex>");
        var seconds = long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.InRange(seconds, from - 1, to + 1);
    }

    /// <summary>Asserts <paramref name="frame"/> is <c>{"error":["&lt;reason&gt;"]}</c> with one non-empty reason; returns it.</summary>
    public static string AssertPlainError(string frame)
    {
        Assert.Matches(PlainError(), frame);
        using var document = JsonDocument.Parse(frame);
        var reason = Assert.Single(document.RootElement.GetProperty("error").EnumerateArray()).GetString();
        Assert.False(string.IsNullOrWhiteSpace(reason));
        return reason!;
    }

    /// <summary>
    /// Asserts <paramref name="frame"/> is <c>{"error":[{"type":…,"loc":[…],"msg":…},…]}</c>, keys in that order,
    /// each <c>msg</c> a non-empty string; returns each error as <c>"&lt;type&gt; &lt;loc as sent&gt;"</c>.
    /// </summary>
    public static IReadOnlyList<string> AssertValidationErrors(string frame)
    {
        using var document = JsonDocument.Parse(frame);
        var root = document.RootElement;
        Assert.Equal(["error"], root.EnumerateObject().Select(p => p.Name));
        var errors = new List<string>();
        foreach (var error in root.GetProperty("error").EnumerateArray())
        {
            Assert.Equal(["type", "loc", "msg"], error.EnumerateObject().Select(p => p.Name));
            Assert.Equal(JsonValueKind.Array, error.GetProperty("loc").ValueKind);
            Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("msg").GetString()));
            errors.Add($"{error.GetProperty("type").GetString()} {error.GetProperty("loc").GetRawText()}");
        }

        return errors;
    }

    /// <summary>Asserts <paramref name="frame"/> is <c>{"type":"walker","error":"&lt;reason&gt;"}</c> with a non-empty reason; returns it.</summary>
    public static string AssertWalkerError(string frame)
    {
        Assert.Matches(WalkerError(), frame);
        using var document = JsonDocument.Parse(frame);
        var reason = document.RootElement.GetProperty("error").GetString();
        Assert.False(string.IsNullOrWhiteSpace(reason));
        return reason!;
    }

    [GeneratedRegex(@"^(\d+):[0-9a-f]{32}$")]
    private static partial Regex IdFormat();

    [GeneratedRegex(@"^\{""error"":\[""(?:[^""\\]|\\.)+""\]\}$")]
    private static partial Regex PlainError();

    [GeneratedRegex(@"^\{""type"":""walker"",""error"":""(?:[^""\\]|\\.)+""\}$")]
    private static partial Regex WalkerError();
}
