using System.Buffers;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using Gateway.Connections;
using Gateway.Registry;

namespace Gateway.Admin;

/// <summary>
/// The admin API's exact response bytes: keys in sorted order (<c>code</c>, <c>data</c>,
/// <c>message</c>) as Go's map encoding gives them, HTTP 200 with the outcome in <c>code</c>.
/// </summary>
internal static class AdminResponses
{
    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = true,
    };

    public static readonly byte[] Success = "{\"code\":0,\"message\":\"success\"}"u8.ToArray();

    public static byte[] Error(int code, string message) => Write(writer =>
    {
        writer.WriteStartObject();
        writer.WriteNumber("code", code);
        writer.WriteString("message", message);
        writer.WriteEndObject();
    });

    /// <summary><c>{"code":0,"data":{"matched":N,"enqueued":N,"dropped":N},"message":"success"}</c> (the receipt is an Extension).</summary>
    public static byte[] Receipt(RegistryProtocol.DeliveryReceipt receipt) => Write(writer =>
    {
        writer.WriteStartObject();
        writer.WriteNumber("code", 0);
        writer.WriteStartObject("data");
        writer.WriteNumber("matched", receipt.Matched);
        writer.WriteNumber("enqueued", receipt.Enqueued);
        writer.WriteNumber("dropped", receipt.Dropped);
        writer.WriteEndObject();
        writer.WriteString("message", "success");
        writer.WriteEndObject();
    });

    /// <summary>
    /// <c>{"code":0,"data":[{"conns":[…],"conns_number":N,"name":…,"public_conns":[…],"public_conns_number":M}],"message":"success"}</c>;
    /// each connection is <c>{"id","token","userAgent","userAgentTag"}</c> followed by the Extension fields
    /// <c>channels</c>, <c>connected_at</c> and <c>dialect</c>. With clustering on, each connection also gets
    /// <c>node</c> (its node's address, from <paramref name="nodeOf"/>), and nodes left out of the list are named
    /// in a top-level <c>missing_nodes</c> array after <c>message</c>, present only when some are.
    /// </summary>
    public static byte[] List(RegistryProtocol.ConnectionList list, IReadOnlyDictionary<ConnectionIdentity, string>? nodeOf = null, IReadOnlyList<string>? missingNodes = null) => Write(writer =>
    {
        writer.WriteStartObject();
        writer.WriteNumber("code", 0);
        writer.WriteStartArray("data");
        foreach (var user in list.Users)
        {
            writer.WriteStartObject();
            WriteConnections(writer, "conns", user.Private, nodeOf);
            writer.WriteNumber("conns_number", user.Private.Count);
            writer.WriteString("name", user.Name);
            WriteConnections(writer, "public_conns", user.Public, nodeOf);
            writer.WriteNumber("public_conns_number", user.Public.Count);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteString("message", "success");
        if (missingNodes is { Count: > 0 })
        {
            writer.WriteStartArray("missing_nodes");
            foreach (var node in missingNodes)
            {
                writer.WriteStringValue(node);
            }

            writer.WriteEndArray();
        }

        writer.WriteEndObject();
    });

    private static void WriteConnections(Utf8JsonWriter writer, string name, IReadOnlyList<ConnectionIdentity> connections, IReadOnlyDictionary<ConnectionIdentity, string>? nodeOf)
    {
        writer.WriteStartArray(name);
        foreach (var connection in connections)
        {
            writer.WriteStartObject();
            writer.WriteString("id", connection.Id.Value);
            writer.WriteString("token", connection.Token);
            writer.WriteString("userAgent", connection.UserAgent);
            writer.WriteString("userAgentTag", connection.UserAgentTag);
            writer.WriteStartArray("channels");
            if (connection.Channel is not null)
            {
                writer.WriteStringValue(connection.Channel);
            }

            writer.WriteEndArray();
            writer.WriteString("connected_at", connection.ConnectedAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
            writer.WriteString("dialect", connection.Dialect == Dialect.Tapr ? "tapr" : "jac");
            if (nodeOf is not null && nodeOf.TryGetValue(connection, out var node))
            {
                writer.WriteString("node", node);
            }
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
    }

    private static byte[] Write(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            write(writer);
        }

        return buffer.WrittenSpan.ToArray();
    }
}
