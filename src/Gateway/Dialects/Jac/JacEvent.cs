using System.Runtime.InteropServices;
using System.Text.Json;
using Gateway.Registry;

namespace Gateway.Dialects.Jac;

/// <summary>One validation problem, in pydantic's terms: <c>{"type","loc","msg"}</c>.</summary>
internal sealed record JacValidationError(string Type, IReadOnlyList<object> Loc, string Msg);

/// <summary>A client event of the jac dialect, validated as jac-cloud's models validate it (PROTOCOL.md §5).</summary>
internal abstract record JacEvent
{
    private const string ExpectedTags = "'connection', 'walker', 'user', 'channel', 'client', 'change_user'";

    private static readonly JsonDocumentOptions Options = new() { MaxDepth = 1024 };

    /// <summary><c>{"type":"connection"}</c>: send the connection event again.</summary>
    public sealed record Connection : JacEvent;

    /// <summary><c>user</c>/<c>channel</c>/<c>client</c>: deliver <paramref name="Data"/> (the raw bytes of <c>data</c>) to every target.</summary>
    public sealed record Direct(RegistryProtocol.RouteKind Kind, IReadOnlyList<string> Targets, byte[] Data) : JacEvent;

    /// <summary><c>change_user</c>: re-authenticate with <paramref name="Token"/> (null or empty: the handshake's token).</summary>
    public sealed record ChangeUser(string? Token) : JacEvent;

    /// <summary><c>walker</c>: forwarded to the app; with <paramref name="Response"/>, its answer comes back.</summary>
    public sealed record Walker(bool Response) : JacEvent;

    /// <summary>The frame is not JSON.</summary>
    public sealed record Invalid(string Reason) : JacEvent;

    /// <summary>The frame is JSON but not a valid event.</summary>
    public sealed record Rejected(IReadOnlyList<JacValidationError> Errors) : JacEvent;

    public static JacEvent Parse(byte[] frame)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(frame, Options);
        }
        catch (JsonException exception)
        {
            return new Invalid("Invalid JSON: " + exception.Message);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return Reject("model_attributes_type", ["event"], "Input should be a valid dictionary or object to extract fields from");
            }

            if (!TryGet(root, "type", out var type))
            {
                return Reject("union_tag_not_found", ["event"], "Unable to extract tag using discriminator 'type'");
            }

            var tag = type.ValueKind == JsonValueKind.String ? type.GetString()! : type.GetRawText();
            var errors = new List<JacValidationError>();
            JacEvent? parsed = tag switch
            {
                "connection" when type.ValueKind == JsonValueKind.String => new Connection(),
                "user" when type.ValueKind == JsonValueKind.String => ParseDirect(root, tag, "root_ids", RegistryProtocol.RouteKind.Users, errors),
                "channel" when type.ValueKind == JsonValueKind.String => ParseDirect(root, tag, "channel_ids", RegistryProtocol.RouteKind.Channels, errors),
                "client" when type.ValueKind == JsonValueKind.String => ParseDirect(root, tag, "client_ids", RegistryProtocol.RouteKind.Clients, errors),
                "change_user" when type.ValueKind == JsonValueKind.String => ParseChangeUser(root, errors),
                "walker" when type.ValueKind == JsonValueKind.String => ParseWalker(root, errors),
                _ => null,
            };

            if (parsed is null && errors.Count == 0)
            {
                return Reject("union_tag_invalid", ["event"], $"Input tag '{tag}' found using 'type' does not match any of the expected tags: {ExpectedTags}");
            }

            return errors.Count > 0 ? new Rejected(errors) : parsed!;
        }
    }

    private static Direct? ParseDirect(JsonElement root, string tag, string listName, RegistryProtocol.RouteKind kind, List<JacValidationError> errors)
    {
        var targets = new List<string>();
        if (!TryGet(root, listName, out var list))
        {
            errors.Add(new JacValidationError("missing", ["event", tag, listName], "Field required"));
        }
        else if (list.ValueKind != JsonValueKind.Array)
        {
            errors.Add(new JacValidationError("list_type", ["event", tag, listName], "Input should be a valid list"));
        }
        else
        {
            var index = 0;
            foreach (var item in list.EnumerateArray())
            {
                if (item.ValueKind == JsonValueKind.String)
                {
                    var target = item.GetString()!;
                    if (kind == RegistryProtocol.RouteKind.Users && !IsRootId(target))
                    {
                        // jac-cloud would first deliver to the ids before this one; nothing is delivered here.
                        errors.Add(new JacValidationError("value_error", ["event", tag, listName, index], "Value error, not a root id: expected n:<type>:<24 hex> or n::<24 hex>"));
                    }

                    targets.Add(target);
                }
                else
                {
                    errors.Add(new JacValidationError("string_type", ["event", tag, listName, index], "Input should be a valid string"));
                }

                index++;
            }

            if (index == 0)
            {
                errors.Add(new JacValidationError("too_short", ["event", tag, listName], "List should have at least 1 item after validation, not 0"));
            }
        }

        byte[]? data = null;
        if (!TryGet(root, "data", out var dataElement))
        {
            errors.Add(new JacValidationError("missing", ["event", tag, "data"], "Field required"));
        }
        else if (dataElement.ValueKind != JsonValueKind.Object)
        {
            errors.Add(new JacValidationError("dict_type", ["event", tag, "data"], "Input should be a valid dictionary"));
        }
        else
        {
            // Verbatim: the client's bytes of "data", delivered with no envelope.
            data = JsonMarshal.GetRawUtf8Value(dataElement).ToArray();
        }

        return errors.Count == 0 ? new Direct(kind, targets, data!) : null;
    }

    private static ChangeUser? ParseChangeUser(JsonElement root, List<JacValidationError> errors)
    {
        if (!TryGet(root, "token", out var token) || token.ValueKind == JsonValueKind.Null)
        {
            return new ChangeUser(null);
        }

        if (token.ValueKind != JsonValueKind.String)
        {
            errors.Add(new JacValidationError("string_type", ["event", "change_user", "token"], "Input should be a valid string"));
            return null;
        }

        return new ChangeUser(token.GetString());
    }

    private static Walker? ParseWalker(JsonElement root, List<JacValidationError> errors)
    {
        if (!TryGet(root, "walker", out var walker))
        {
            errors.Add(new JacValidationError("missing", ["event", "walker", "walker"], "Field required"));
        }
        else if (walker.ValueKind != JsonValueKind.String)
        {
            errors.Add(new JacValidationError("string_type", ["event", "walker", "walker"], "Input should be a valid string"));
        }

        if (TryGet(root, "node", out var node) && node.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
        {
            errors.Add(new JacValidationError("string_type", ["event", "walker", "node"], "Input should be a valid string"));
        }

        var response = false;
        if (TryGet(root, "response", out var responseElement) && !TryLaxBool(responseElement, out response))
        {
            errors.Add(responseElement.ValueKind == JsonValueKind.String
                ? new JacValidationError("bool_parsing", ["event", "walker", "response"], "Input should be a valid boolean, unable to interpret input")
                : new JacValidationError("bool_type", ["event", "walker", "response"], "Input should be a valid boolean"));
        }

        if (TryGet(root, "context", out var context) && context.ValueKind != JsonValueKind.Object)
        {
            errors.Add(new JacValidationError("dict_type", ["event", "walker", "context"], "Input should be a valid dictionary"));
        }

        return errors.Count == 0 ? new Walker(response) : null;
    }

    /// <summary>
    /// A root id as jac-cloud writes node references (PROTOCOL.md §5): <c>n:&lt;type&gt;:&lt;24 hex&gt;</c> or
    /// <c>n::&lt;24 hex&gt;</c> (the public root <c>n::000000000000000000000001</c> among them), the type an identifier.
    /// </summary>
    public static bool IsRootId(string id)
    {
        if (!id.StartsWith("n:", StringComparison.Ordinal))
        {
            return false;
        }

        var second = id.IndexOf(':', 2);
        if (second < 0 || id.Length - second - 1 != 24)
        {
            return false;
        }

        var type = id.AsSpan(2, second - 2);
        foreach (var c in type)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '_')
            {
                return false;
            }
        }

        foreach (var c in id.AsSpan(second + 1))
        {
            if (!char.IsAsciiHexDigit(c))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>pydantic's lax booleans: true/false, 0/1, and the usual words.</summary>
    private static bool TryLaxBool(JsonElement element, out bool value)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.True:
                value = true;
                return true;
            case JsonValueKind.False:
                value = false;
                return true;
            case JsonValueKind.Number when element.TryGetDouble(out var number) && number is 0 or 1:
                value = number == 1; // pydantic accepts 0, 1, 0.0 and 1.0
                return true;
            case JsonValueKind.String:
                switch (element.GetString()!.Trim().ToLowerInvariant())
                {
                    case "1" or "t" or "true" or "y" or "yes" or "on":
                        value = true;
                        return true;
                    case "0" or "f" or "false" or "n" or "no" or "off":
                        value = false;
                        return true;
                }

                break;
        }

        value = false;
        return false;
    }

    /// <summary>The last property of that name, as Python's json keeps the last of duplicate keys.</summary>
    private static bool TryGet(JsonElement root, string name, out JsonElement value)
    {
        var found = false;
        value = default;
        foreach (var property in root.EnumerateObject())
        {
            if (property.NameEquals(name))
            {
                value = property.Value;
                found = true;
            }
        }

        return found;
    }

    private static Rejected Reject(string type, IReadOnlyList<object> loc, string msg) => new([new JacValidationError(type, loc, msg)]);
}
