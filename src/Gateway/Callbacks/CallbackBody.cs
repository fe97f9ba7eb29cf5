using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using Gateway.Connections;
using static Gateway.Callbacks.CallbackProtocol;

namespace Gateway.Callbacks;

/// <summary>
/// The exact JSON body of a callback, fields in Olares's order:
/// <c>{"data":…,"action":…,"user_name":…,"conn_id":…,"token":…,"access_public":…}</c>, then, for a frame
/// that is not a JSON object, <c>raw_text</c> or <c>raw_binary</c> (Extension).
/// </summary>
internal static class CallbackBody
{
    private static readonly JsonWriterOptions WriterOptions = new()
    {
        // Escape only what JSON requires: user names and tokens reach the app as they were.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = true,
    };

    public static byte[] Write(CallbackEvent callbackEvent)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            var identity = callbackEvent.Identity;
            writer.WriteStartObject();
            var message = callbackEvent switch
            {
                MessageReceived received => received.Message,
                WalkerReceived walker => walker.Message,
                _ => null,
            };

            writer.WritePropertyName("data");
            if (message is { Kind: ConnectionProtocol.FrameKind.JsonObject })
            {
                // Verbatim: the client's bytes, key order and numbers untouched.
                writer.WriteRawValue(message.Frame.AsSpan(message.DataOffset, message.DataLength), skipInputValidation: true);
            }
            else
            {
                writer.WriteStartObject();
                writer.WriteEndObject();
            }

            writer.WriteString("action", callbackEvent switch
            {
                ConnectionOpened => "open",
                ConnectionClosed => "close",
                _ => "message",
            });
            writer.WriteString("user_name", identity.User);
            writer.WriteString("conn_id", identity.Id.Value);
            writer.WriteString("token", identity.Token);
            writer.WriteBoolean("access_public", identity.AccessPublic);
            if (message is { Kind: ConnectionProtocol.FrameKind.Text })
            {
                writer.WriteString("raw_text", message.Frame);
            }
            else if (message is { Kind: ConnectionProtocol.FrameKind.Binary })
            {
                writer.WriteBase64String("raw_binary", message.Frame);
            }

            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
