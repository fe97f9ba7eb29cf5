using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Gateway.Admin;

/// <summary>The shape of a request field, as Olares's Go struct declares it.</summary>
internal enum GoFieldKind
{
    String,
    StringArray,
    Int,
    Bool,
    Any,
}

/// <summary>A decoded field: a string, a string list, an int, a bool, or the raw JSON bytes of an <c>interface{}</c>.</summary>
internal readonly record struct GoValue(string? Text = null, List<string>? Texts = null, int Number = 0, bool Flag = false, ReadOnlyMemory<byte> Raw = default);

/// <summary>
/// Decodes a request body the way Go's <c>json.Unmarshal</c> decodes it into Olares's request
/// structs: keys match exactly or else case-insensitively, unknown keys are ignored, <c>null</c>
/// leaves a field at its zero value, the last of duplicate keys wins, a syntax error anywhere fails
/// the whole body, and a type error names the Go struct field, in Go's words.
/// </summary>
internal static class GoJsonReader
{
    private static readonly JsonReaderOptions Options = new() { MaxDepth = 1024 };

    /// <summary>Decodes <paramref name="body"/>; returns the error text (without the endpoint's prefix) or null.</summary>
    public static string? Decode(ReadOnlyMemory<byte> body, string goType, IReadOnlyDictionary<string, GoFieldKind> fields, Dictionary<string, GoValue> values)
    {
        if (Validate(body.Span) is { } syntaxError)
        {
            return syntaxError;
        }

        var reader = new Utf8JsonReader(body.Span, Options);
        reader.Read();
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        var structName = goType[(goType.IndexOf('.', StringComparison.Ordinal) + 1)..];
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            return $"json: cannot unmarshal {Kind(reader.TokenType)} into Go value of type {goType}";
        }

        string? firstError = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var key = reader.GetString()!;
            reader.Read();
            var name = Match(key, fields);
            if (name is null)
            {
                reader.Skip();
                continue;
            }

            var error = ReadField(body, ref reader, fields[name], $"{structName}.{name}", out var value);
            if (error is null)
            {
                if (value is { } decoded)
                {
                    values[name] = decoded;
                }
                else
                {
                    values.Remove(name); // null: the zero value
                }
            }
            else
            {
                firstError ??= error;
            }
        }

        return firstError;
    }

    private static string? Match(string key, IReadOnlyDictionary<string, GoFieldKind> fields)
    {
        if (fields.ContainsKey(key))
        {
            return key;
        }

        foreach (var name in fields.Keys)
        {
            if (string.Equals(name, key, StringComparison.OrdinalIgnoreCase))
            {
                return name;
            }
        }

        return null;
    }

    private static string? ReadField(ReadOnlyMemory<byte> body, ref Utf8JsonReader reader, GoFieldKind kind, string field, out GoValue? value)
    {
        value = null;
        if (reader.TokenType == JsonTokenType.Null && kind != GoFieldKind.Any)
        {
            return null;
        }

        switch (kind)
        {
            case GoFieldKind.Any:
                var start = (int)reader.TokenStartIndex;
                reader.Skip();
                value = new GoValue(Raw: body[start..(int)reader.BytesConsumed]);
                return null;
            case GoFieldKind.String when reader.TokenType == JsonTokenType.String:
                value = new GoValue(Text: reader.GetString());
                return null;
            case GoFieldKind.Bool when reader.TokenType is JsonTokenType.True or JsonTokenType.False:
                value = new GoValue(Flag: reader.GetBoolean());
                return null;
            case GoFieldKind.Int when reader.TokenType == JsonTokenType.Number:
                if (reader.TryGetInt32(out var number))
                {
                    value = new GoValue(Number: number);
                    return null;
                }

                return $"json: cannot unmarshal number {Encoding.UTF8.GetString(reader.ValueSpan)} into Go struct field {field} of type int";
            case GoFieldKind.StringArray when reader.TokenType == JsonTokenType.StartArray:
                var list = new List<string>();
                string? elementError = null;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (reader.TokenType == JsonTokenType.String)
                    {
                        list.Add(reader.GetString()!);
                    }
                    else if (reader.TokenType == JsonTokenType.Null)
                    {
                        list.Add(string.Empty); // Go leaves a null element at the zero value
                    }
                    else
                    {
                        elementError ??= $"json: cannot unmarshal {Kind(reader.TokenType)} into Go struct field {field} of type string";
                        reader.Skip();
                    }
                }

                value = new GoValue(Texts: list);
                return elementError;
            default:
                var found = Kind(reader.TokenType);
                reader.Skip();
                return $"json: cannot unmarshal {found} into Go struct field {field} of type {GoType(kind)}";
        }
    }

    /// <summary>Go checks the whole input's syntax before decoding anything; so do we, with Go's wording where it is simple.</summary>
    private static string? Validate(ReadOnlySpan<byte> body)
    {
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = Options.MaxDepth, AllowMultipleValues = true });
        try
        {
            if (!reader.Read())
            {
                return "unexpected end of JSON input";
            }

            reader.Skip();
            var rest = (int)reader.BytesConsumed;
            while (rest < body.Length && body[rest] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
            {
                rest++;
            }

            return rest < body.Length ? $"invalid character {Quote(body, rest)} after top-level value" : null;
        }
        catch (JsonException exception)
        {
            var offset = Offset(body, exception.LineNumber ?? 0, exception.BytePositionInLine ?? 0);
            if (offset >= TrimEnd(body))
            {
                return "unexpected end of JSON input";
            }

            return $"invalid character {Quote(body, offset)} looking for beginning of value";
        }
    }

    private static int TrimEnd(ReadOnlySpan<byte> body)
    {
        var end = body.Length;
        while (end > 0 && body[end - 1] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
        {
            end--;
        }

        return end;
    }

    private static int Offset(ReadOnlySpan<byte> body, long line, long column)
    {
        var offset = 0;
        for (var current = 0L; current < line && offset < body.Length; offset++)
        {
            if (body[offset] == (byte)'\n')
            {
                current++;
            }
        }

        return (int)Math.Min(offset + column, body.Length);
    }

    private static string Quote(ReadOnlySpan<byte> body, int offset)
    {
        if (offset >= body.Length)
        {
            return "''";
        }

        var c = (char)body[offset];
        return c < 0x20 || c > 0x7E ? string.Create(CultureInfo.InvariantCulture, $"'\\x{(int)c:x2}'") : $"'{c}'";
    }

    private static string Kind(JsonTokenType token) => token switch
    {
        JsonTokenType.StartArray => "array",
        JsonTokenType.StartObject => "object",
        JsonTokenType.String => "string",
        JsonTokenType.Number => "number",
        JsonTokenType.True or JsonTokenType.False => "bool",
        _ => "value",
    };

    private static string GoType(GoFieldKind kind) => kind switch
    {
        GoFieldKind.String => "string",
        GoFieldKind.StringArray => "[]string",
        GoFieldKind.Int => "int",
        GoFieldKind.Bool => "bool",
        _ => "interface {}",
    };
}
