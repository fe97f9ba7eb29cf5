using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using Gateway.Connections;
using Gateway.WebSockets;

namespace Gateway.Dialects.Jac;

/// <summary>The frames the jac dialect writes, compact, keys in jac-cloud's order.</summary>
internal static class JacFrames
{
    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = true,
    };

    /// <summary><c>{"type":"connection","data":{"client_id":…,"root_id":…,"channel_id":…}}</c>.</summary>
    public static OutboundMessage ConnectionEvent(ConnectionIdentity identity) => Write(writer =>
    {
        writer.WriteStartObject();
        writer.WriteString("type", "connection");
        writer.WriteStartObject("data");
        writer.WriteString("client_id", identity.Id.Value);
        writer.WriteString("root_id", identity.User);
        writer.WriteString("channel_id", identity.Channel);
        writer.WriteEndObject();
        writer.WriteEndObject();
    });

    /// <summary><c>{"error":["&lt;reason&gt;"]}</c>: the frame was not JSON, or was binary.</summary>
    public static OutboundMessage Error(string reason) => Write(writer =>
    {
        writer.WriteStartObject();
        writer.WriteStartArray("error");
        writer.WriteStringValue(reason);
        writer.WriteEndArray();
        writer.WriteEndObject();
    });

    /// <summary><c>{"error":[{"type":…,"loc":[…],"msg":…},…]}</c>: the event failed validation.</summary>
    public static OutboundMessage ValidationErrors(IReadOnlyList<JacValidationError> errors) => Write(writer =>
    {
        writer.WriteStartObject();
        writer.WriteStartArray("error");
        foreach (var error in errors)
        {
            writer.WriteStartObject();
            writer.WriteString("type", error.Type);
            writer.WriteStartArray("loc");
            foreach (var part in error.Loc)
            {
                if (part is int index)
                {
                    writer.WriteNumberValue(index);
                }
                else
                {
                    writer.WriteStringValue((string)part);
                }
            }

            writer.WriteEndArray();
            writer.WriteString("msg", error.Msg);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    });

    /// <summary><c>{"type":"walker","error":"&lt;reason&gt;"}</c>: a walker call failed or timed out.</summary>
    public static OutboundMessage WalkerError(string reason) => Write(writer =>
    {
        writer.WriteStartObject();
        writer.WriteString("type", "walker");
        writer.WriteString("error", reason);
        writer.WriteEndObject();
    });

    private static OutboundMessage Write(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            write(writer);
        }

        return OutboundMessage.Text(buffer.WrittenSpan.ToArray());
    }
}
