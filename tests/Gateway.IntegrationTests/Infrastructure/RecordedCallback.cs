using System.Text;
using System.Text.Json;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>
/// One request the app received from the gateway, as it arrived: raw body bytes, the Cookie header
/// (and whether there was one), Content-Type, and what the app answered. The body's fields are
/// parsed for convenience; assertions on bytes use <see cref="Body"/> or <see cref="BodyText"/>.
/// </summary>
public sealed class RecordedCallback
{
    private readonly Lazy<JsonDocument?> _json;
    private int _answered;

    internal RecordedCallback(long sequence, string method, string path, IReadOnlyDictionary<string, string> headers, byte[] body, int status)
    {
        Sequence = sequence;
        ReceivedAt = DateTimeOffset.UtcNow;
        Method = method;
        Path = path;
        Headers = headers;
        Body = body;
        Status = status;
        _json = new Lazy<JsonDocument?>(() =>
        {
            try
            {
                return JsonDocument.Parse(Body);
            }
            catch (JsonException)
            {
                return null;
            }
        });
    }

    /// <summary>Arrival order across all connections, from 0.</summary>
    public long Sequence { get; }

    public DateTimeOffset ReceivedAt { get; }

    public string Method { get; }

    /// <summary>Path and query string.</summary>
    public string Path { get; }

    /// <summary>Request headers (repeated headers joined with ", "); names as received.</summary>
    public IReadOnlyDictionary<string, string> Headers { get; }

    /// <summary>The exact body bytes.</summary>
    public byte[] Body { get; }

    /// <summary>The body as UTF-8.</summary>
    public string BodyText => Encoding.UTF8.GetString(Body);

    /// <summary>Whether the request had a Cookie header at all.</summary>
    public bool HasCookie => Headers.ContainsKey("Cookie");

    /// <summary>The Cookie header's value; null when absent, "" when present and empty.</summary>
    public string? Cookie => Headers.GetValueOrDefault("Cookie");

    /// <summary>The Content-Type header, as sent.</summary>
    public string? ContentType => Headers.GetValueOrDefault("Content-Type");

    /// <summary>The status the app answered (or is about to answer, after its delay).</summary>
    public int Status { get; }

    /// <summary>Whether the answer was written (false while delayed, or when the gateway gave up waiting).</summary>
    public bool Answered => Volatile.Read(ref _answered) == 1;

    /// <summary>Answered with 2xx: the gateway has it as delivered.</summary>
    public bool Delivered => Answered && Status is >= 200 and < 300;

    /// <summary>The parsed body, or null when it is not JSON.</summary>
    public JsonElement? Json => _json.Value?.RootElement;

    /// <summary><c>action</c>: open, message, close.</summary>
    public string? Action => StringField("action");

    public string? ConnId => StringField("conn_id");

    public string? UserName => StringField("user_name");

    public string? Token => StringField("token");

    public bool? AccessPublic => Json is { ValueKind: JsonValueKind.Object } json && json.TryGetProperty("access_public", out var value)
        && value.ValueKind is JsonValueKind.True or JsonValueKind.False ? value.GetBoolean() : null;

    /// <summary>The exact text of the <c>data</c> value.</summary>
    public string? DataJson => Json is { ValueKind: JsonValueKind.Object } json && json.TryGetProperty("data", out var data) ? data.GetRawText() : null;

    public string? RawText => StringField("raw_text");

    public string? RawBinary => StringField("raw_binary");

    internal void MarkAnswered() => Volatile.Write(ref _answered, 1);

    public override string ToString() => $"#{Sequence} {Method} {Path} -> {Status}{(Answered ? string.Empty : " (unanswered)")} Cookie={(HasCookie ? $"\"{Cookie}\"" : "absent")} {BodyText}";

    private string? StringField(string name) =>
        Json is { ValueKind: JsonValueKind.Object } json && json.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
