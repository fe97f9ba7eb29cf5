using System.Runtime.Serialization;
using System.Text;
using Akka.Actor;
using Akka.Serialization;
using Gateway.Connections;
using Gateway.Registry;
using Gateway.WebSockets;

namespace Gateway.Cluster;

/// <summary>
/// The wire format of every gateway message that crosses nodes: the registry commands a gather sends
/// (<see cref="RegistryProtocol.SendToConnections"/>, <see cref="RegistryProtocol.CloseConnections"/>,
/// <see cref="RegistryProtocol.GetConnections"/>, relayed <see cref="RegistryProtocol.Route"/>) and the
/// registry's answers. Explicit, versionless binary (little-endian, strings as length-prefixed UTF-8): no
/// type names on the wire and no reflection. A connection's cookie never leaves its node.
/// </summary>
public sealed class PeerMessageSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    /// <summary>The serializer id in <c>akka.actor.serialization-identifiers</c>.</summary>
    public const int Id = 7411;

    /// <summary>
    /// The most a gateway message may hold to cross nodes: the admin body limit (4 MiB), so that any admin
    /// call fits. Akka.Remote's frame size is this plus <see cref="FrameHeadroom"/> for the envelope.
    /// </summary>
    public const long MaxMessageBytes = 4 * 1024 * 1024;

    /// <summary>Room in a remoting frame for Akka's envelope (recipient and sender paths, manifest) around our bytes.</summary>
    public const long FrameHeadroom = 64 * 1024;

    /// <summary>
    /// The most one serialized message may take: <see cref="MaxMessageBytes"/> plus half the headroom (our own
    /// framing of filters and lengths), leaving the other half of the frame's headroom to Akka's envelope.
    /// </summary>
    public const long MaxSerializedBytes = MaxMessageBytes + (FrameHeadroom / 2);

    private const string SendManifest = "S";
    private const string CloseManifest = "C";
    private const string ListManifest = "L";
    private const string RouteManifest = "R";
    private const string ReceiptManifest = "r";
    private const string ClosedManifest = "c";
    private const string ConnectionListManifest = "l";

    public override int Identifier => Id;

    /// <summary>About how many bytes a send or route takes on the wire (payload plus filter strings).</summary>
    internal static long SizeOf(OutboundMessage message, RegistryProtocol.TargetFilter? filter)
    {
        long size = message.Payload.Length + 64;
        if (filter is not null)
        {
            size += Count(filter.ConnIds) + Count(filter.Users) + Count(filter.Tokens) + Count(filter.Channels);
        }

        return size;

        static long Count(IReadOnlyCollection<string>? values) => values?.Sum(static v => Encoding.UTF8.GetByteCount(v) + 5L) ?? 0;
    }

    public override string Manifest(object o) => o switch
    {
        RegistryProtocol.SendToConnections => SendManifest,
        RegistryProtocol.CloseConnections => CloseManifest,
        RegistryProtocol.GetConnections => ListManifest,
        RegistryProtocol.Route => RouteManifest,
        RegistryProtocol.DeliveryReceipt => ReceiptManifest,
        RegistryProtocol.ConnectionsClosed => ClosedManifest,
        RegistryProtocol.ConnectionList => ConnectionListManifest,
        _ => throw Unknown(o.GetType().FullName),
    };

    public override byte[] ToBinary(object obj)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            switch (obj)
            {
                case RegistryProtocol.SendToConnections send:
                    WriteFilter(writer, send.Filter);
                    WriteMessage(writer, send.Message);
                    break;
                case RegistryProtocol.CloseConnections close:
                    WriteFilter(writer, close.Filter);
                    writer.Write(close.Code);
                    writer.Write(close.Reason);
                    break;
                case RegistryProtocol.GetConnections:
                    break;
                case RegistryProtocol.Route route:
                    writer.Write((byte)route.Kind);
                    WriteStrings(writer, route.Targets);
                    WriteMessage(writer, route.Message);
                    writer.Write(route.Relayed);
                    break;
                case RegistryProtocol.DeliveryReceipt receipt:
                    writer.Write(receipt.Matched);
                    writer.Write(receipt.Enqueued);
                    writer.Write(receipt.Dropped);
                    break;
                case RegistryProtocol.ConnectionsClosed closed:
                    writer.Write(closed.Count);
                    break;
                case RegistryProtocol.ConnectionList list:
                    WriteList(writer, list);
                    break;
                default:
                    throw Unknown(obj.GetType().FullName);
            }
        }

        if (stream.Length > MaxSerializedBytes)
        {
            throw new PeersProtocol.PeerMessageTooLargeException(stream.Length);
        }

        return stream.ToArray();
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        using var reader = new BinaryReader(new MemoryStream(bytes), Encoding.UTF8);
        return manifest switch
        {
            SendManifest => new RegistryProtocol.SendToConnections(ReadFilter(reader), ReadMessage(reader)),
            CloseManifest => new RegistryProtocol.CloseConnections(ReadFilter(reader), reader.ReadInt32(), reader.ReadString()),
            ListManifest => RegistryProtocol.GetConnections.Instance,
            RouteManifest => new RegistryProtocol.Route((RegistryProtocol.RouteKind)reader.ReadByte(), ReadStrings(reader)!, ReadMessage(reader), reader.ReadBoolean()),
            ReceiptManifest => new RegistryProtocol.DeliveryReceipt(reader.ReadInt32(), reader.ReadInt32(), reader.ReadInt32()),
            ClosedManifest => new RegistryProtocol.ConnectionsClosed(reader.ReadInt32()),
            ConnectionListManifest => ReadList(reader),
            _ => throw Unknown(manifest),
        };
    }

    private static SerializationException Unknown(string? what) =>
        new($"{nameof(PeerMessageSerializer)} does not serialize {what}; only registry commands and answers cross nodes.");

    private static void WriteFilter(BinaryWriter writer, RegistryProtocol.TargetFilter filter)
    {
        WriteStrings(writer, filter.ConnIds);
        WriteStrings(writer, filter.Users);
        WriteStrings(writer, filter.Tokens);
        WriteStrings(writer, filter.Channels);
        writer.Write(filter.UsersAccessType);
        writer.Write(filter.All);
    }

    private static RegistryProtocol.TargetFilter ReadFilter(BinaryReader reader) =>
        new(ReadSet(reader), ReadSet(reader), ReadSet(reader), ReadSet(reader), reader.ReadInt32(), reader.ReadBoolean());

    private static void WriteMessage(BinaryWriter writer, OutboundMessage message)
    {
        writer.Write((byte)message.Opcode);
        writer.Write(message.Payload.Length);
        writer.Write(message.Payload.Span);
    }

    private static OutboundMessage ReadMessage(BinaryReader reader)
    {
        var opcode = (Opcode)reader.ReadByte();
        var payload = reader.ReadBytes(reader.ReadInt32());
        return new OutboundMessage(opcode, payload);
    }

    private static void WriteStrings(BinaryWriter writer, IReadOnlyCollection<string>? values)
    {
        if (values is null)
        {
            writer.Write(-1);
            return;
        }

        writer.Write(values.Count);
        foreach (var value in values)
        {
            writer.Write(value);
        }
    }

    private static List<string>? ReadStrings(BinaryReader reader)
    {
        var count = reader.ReadInt32();
        if (count < 0)
        {
            return null;
        }

        var values = new List<string>(count);
        for (var i = 0; i < count; i++)
        {
            values.Add(reader.ReadString());
        }

        return values;
    }

    private static HashSet<string>? ReadSet(BinaryReader reader) =>
        ReadStrings(reader) is { } values ? new HashSet<string>(values, StringComparer.Ordinal) : null;

    private static void WriteList(BinaryWriter writer, RegistryProtocol.ConnectionList list)
    {
        writer.Write(list.Users.Count);
        foreach (var user in list.Users)
        {
            writer.Write(user.Name);
            WriteIdentities(writer, user.Private);
            WriteIdentities(writer, user.Public);
        }
    }

    private static RegistryProtocol.ConnectionList ReadList(BinaryReader reader)
    {
        var count = reader.ReadInt32();
        var users = new List<RegistryProtocol.UserConnections>(count);
        for (var i = 0; i < count; i++)
        {
            users.Add(new RegistryProtocol.UserConnections(reader.ReadString(), ReadIdentities(reader), ReadIdentities(reader)));
        }

        return new RegistryProtocol.ConnectionList(users);
    }

    private static void WriteIdentities(BinaryWriter writer, IReadOnlyList<ConnectionIdentity> identities)
    {
        writer.Write(identities.Count);
        foreach (var identity in identities)
        {
            writer.Write(identity.Id.Value);
            writer.Write((byte)identity.Dialect);
            writer.Write(identity.User);
            writer.Write(identity.Token);
            writer.Write(identity.AccessPublic);
            writer.Write(identity.UserAgent);
            writer.Write(identity.Channel is not null);
            if (identity.Channel is not null)
            {
                writer.Write(identity.Channel);
            }

            writer.Write(identity.ConnectedAt.UtcTicks);
        }
    }

    private static List<ConnectionIdentity> ReadIdentities(BinaryReader reader)
    {
        var count = reader.ReadInt32();
        var identities = new List<ConnectionIdentity>(count);
        for (var i = 0; i < count; i++)
        {
            var id = new ConnectionId(reader.ReadString());
            var dialect = (Dialect)reader.ReadByte();
            var user = reader.ReadString();
            var token = reader.ReadString();
            var accessPublic = reader.ReadBoolean();
            var userAgent = reader.ReadString();
            var channel = reader.ReadBoolean() ? reader.ReadString() : null;
            var connectedAt = new DateTimeOffset(reader.ReadInt64(), TimeSpan.Zero);
            identities.Add(new ConnectionIdentity(id, dialect, user, token, accessPublic, userAgent, string.Empty, channel, connectedAt));
        }

        return identities;
    }
}

/// <summary>
/// Bound to <c>System.Object</c> when clustering is on, in place of Akka's reflection-based JSON fallback:
/// a message with no explicit serializer fails loudly at the sender instead of crossing nodes by reflection.
/// </summary>
public sealed class NoFallbackSerializer(ExtendedActorSystem system) : Serializer(system)
{
    /// <summary>The serializer id in <c>akka.actor.serialization-identifiers</c>.</summary>
    public const int Id = 7412;

    public override int Identifier => Id;

    public override bool IncludeManifest => false;

    public override byte[] ToBinary(object obj) =>
        throw new SerializationException($"{obj.GetType().FullName} has no explicit serializer and may not cross nodes (strict serialization).");

    public override object FromBinary(byte[] bytes, Type type) =>
        throw new SerializationException($"Refusing to deserialize {type?.FullName ?? "an unknown type"} by reflection (strict serialization).");
}
