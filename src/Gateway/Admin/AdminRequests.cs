using System.Text.Json;
using Gateway.Registry;
using Gateway.WebSockets;

namespace Gateway.Admin;

/// <summary>Turns admin request bodies into registry commands, with Olares's field names and error texts.</summary>
internal static class AdminRequests
{
    private static readonly Dictionary<string, GoFieldKind> SendFields = new(StringComparer.Ordinal)
    {
        ["payload"] = GoFieldKind.Any,
        ["users"] = GoFieldKind.StringArray,
        ["users_access_type"] = GoFieldKind.Int,
        ["tokens"] = GoFieldKind.StringArray,
        ["conn_id"] = GoFieldKind.String,

        // Extensions.
        ["channels"] = GoFieldKind.StringArray,
        ["binary"] = GoFieldKind.Bool,
    };

    private static readonly Dictionary<string, GoFieldKind> CloseFields = new(StringComparer.Ordinal)
    {
        ["conns"] = GoFieldKind.StringArray,
        ["tokens"] = GoFieldKind.StringArray,
        ["users"] = GoFieldKind.StringArray,
        ["users_access_type"] = GoFieldKind.Int,

        // Extensions.
        ["channels"] = GoFieldKind.StringArray,
        ["all"] = GoFieldKind.Bool,
        ["code"] = GoFieldKind.Int,
        ["reason"] = GoFieldKind.String,
    };

    private static readonly byte[] Null = "null"u8.ToArray();

    /// <summary>A send: whom, and the frame (the payload's JSON verbatim, or base64-decoded bytes with <c>"binary":true</c>).</summary>
    public static (RegistryProtocol.TargetFilter? Filter, OutboundMessage? Message, string? Error) ParseSend(ReadOnlyMemory<byte> body)
    {
        var values = new Dictionary<string, GoValue>(StringComparer.Ordinal);
        if (GoJsonReader.Decode(body, "app.sendMesssageReq", SendFields, values) is { } error)
        {
            return (null, null, "send data invalid, " + error);
        }

        var connId = Text(values, "conn_id");
        var filter = new RegistryProtocol.TargetFilter(
            ConnIds: string.IsNullOrEmpty(connId) ? null : [connId],
            Users: Set(values, "users"),
            Tokens: Set(values, "tokens"),
            Channels: Set(values, "channels"),
            UsersAccessType: values.TryGetValue("users_access_type", out var type) ? type.Number : 0);
        if (filter.IsEmpty)
        {
            return (null, null, "send message target is nil");
        }

        var payload = values.TryGetValue("payload", out var raw) ? raw.Raw : Null;
        if (values.TryGetValue("binary", out var binary) && binary.Flag)
        {
            if (!TryDecodeBase64String(payload.Span, out var bytes))
            {
                return (null, null, "send data invalid, with \"binary\":true the payload must be a base64 string");
            }

            return (filter, OutboundMessage.Binary(bytes), null);
        }

        // Encoded once here, shared by every target.
        return (filter, OutboundMessage.Text(payload.ToArray()), null);
    }

    /// <summary>A close: whom, with which code. An empty filter is refused unless the body says <c>"all":true</c> (or Olares compatibility is on).</summary>
    public static (RegistryProtocol.TargetFilter? Filter, int Code, string Reason, string? Error) ParseClose(ReadOnlyMemory<byte> body, bool closeAllOnEmptyFilter)
    {
        var values = new Dictionary<string, GoValue>(StringComparer.Ordinal);
        if (GoJsonReader.Decode(body, "app.disConnectionReq", CloseFields, values) is { } error)
        {
            return (null, 0, string.Empty, "receive data invalid, " + error);
        }

        var all = values.TryGetValue("all", out var allValue) && allValue.Flag;
        var code = values.TryGetValue("code", out var codeValue) ? codeValue.Number : CloseCodes.Normal;
        if (code != CloseCodes.Normal && code is < 3000 or > 4999)
        {
            return (null, 0, string.Empty, "receive data invalid, code must be 1000 or within 3000-4999");
        }

        // Olares skips empty tokens when closing.
        var tokens = Set(values, "tokens");
        tokens?.Remove(string.Empty);
        var filter = new RegistryProtocol.TargetFilter(
            ConnIds: Set(values, "conns"),
            Users: Set(values, "users"),
            Tokens: tokens is { Count: > 0 } ? tokens : null,
            Channels: Set(values, "channels"),
            UsersAccessType: values.TryGetValue("users_access_type", out var type) ? type.Number : 0,
            All: all || closeAllOnEmptyFilter);
        if (filter.IsEmpty && !filter.All)
        {
            return (null, 0, string.Empty, "close target is nil");
        }

        return (filter, code, Text(values, "reason") ?? string.Empty, null);
    }

    private static string? Text(Dictionary<string, GoValue> values, string name) =>
        values.TryGetValue(name, out var value) ? value.Text : null;

    private static HashSet<string>? Set(Dictionary<string, GoValue> values, string name) =>
        values.TryGetValue(name, out var value) && value.Texts is { Count: > 0 } texts ? new HashSet<string>(texts, StringComparer.Ordinal) : null;

    /// <summary>Decodes a JSON string token (escapes included, as any JSON encoder may write them) as base64.</summary>
    private static bool TryDecodeBase64String(ReadOnlySpan<byte> json, out byte[] bytes)
    {
        bytes = [];
        try
        {
            var reader = new Utf8JsonReader(json);
            if (!reader.Read() || reader.TokenType != JsonTokenType.String)
            {
                return false;
            }

            bytes = Convert.FromBase64String(reader.GetString()!);
            return true;
        }
        catch (Exception exception) when (exception is FormatException or JsonException)
        {
            return false;
        }
    }
}
