using System.Text.Json;

namespace Gateway.Dialects;

/// <summary>What a client frame is, as JSON: found in one pass of a forward-only reader.</summary>
/// <param name="IsObject">The frame is exactly one JSON object (whitespace around it allowed).</param>
/// <param name="IsPing">The object's top-level <c>"event"</c> is the string <c>"ping"</c> (the last such key wins, as Go decodes duplicates).</param>
/// <param name="Start">Offset of the object's <c>{</c>.</param>
/// <param name="Length">Length of the object, <c>{</c> to <c>}</c>.</param>
internal readonly record struct JsonFrame(bool IsObject, bool IsPing, int Start, int Length)
{
    private static readonly JsonReaderOptions Options = new() { MaxDepth = 1024 };

    private static readonly JsonFrame NotAnObject = new(false, false, 0, 0);

    /// <summary>Inspects <paramref name="frame"/>: is it one JSON object, and is it a TAPR ping (<c>"event":"ping"</c>)?</summary>
    public static JsonFrame Inspect(ReadOnlySpan<byte> frame)
    {
        try
        {
            var reader = new Utf8JsonReader(frame, Options);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return NotAnObject;
            }

            var start = (int)reader.TokenStartIndex;
            var isPing = false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isEvent = reader.ValueTextEquals("event"u8);
                reader.Read();
                if (isEvent)
                {
                    isPing = reader.TokenType == JsonTokenType.String && reader.ValueTextEquals("ping"u8);
                }

                reader.Skip();
            }

            if (reader.TokenType != JsonTokenType.EndObject)
            {
                return NotAnObject;
            }

            var end = (int)reader.BytesConsumed;

            // Exactly one value: anything but whitespace after it makes the frame something else.
            return reader.Read() ? NotAnObject : new JsonFrame(true, isPing, start, end - start);
        }
        catch (JsonException)
        {
            return NotAnObject;
        }
    }
}
