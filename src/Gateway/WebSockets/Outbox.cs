using System.Text;

namespace Gateway.WebSockets;

/// <summary>
/// A message waiting to be written to one or more clients. The payload is encoded once and shared
/// by every recipient's outbox; only the 2-10 byte frame header is produced per write.
/// </summary>
internal sealed class OutboundMessage
{
    public OutboundMessage(Opcode opcode, ReadOnlyMemory<byte> payload)
    {
        Opcode = opcode;
        Payload = payload;
    }

    public Opcode Opcode { get; }

    public ReadOnlyMemory<byte> Payload { get; }

    public static OutboundMessage Text(ReadOnlyMemory<byte> utf8) => new(Opcode.Text, utf8);

    public static OutboundMessage Text(string text) => new(Opcode.Text, Encoding.UTF8.GetBytes(text));

    public static OutboundMessage Binary(ReadOnlyMemory<byte> bytes) => new(Opcode.Binary, bytes);

    public override string ToString() => Opcode == Opcode.Text
        ? Encoding.UTF8.GetString(Payload.Span)
        : $"<{Opcode} {Payload.Length} bytes>";
}

/// <summary>What became of a message offered to an outbox.</summary>
internal enum EnqueueResult
{
    /// <summary>Queued for writing.</summary>
    Enqueued,

    /// <summary>Refused: the client is not reading fast enough and its queue is full (it is being closed with 4001).</summary>
    Overflow,

    /// <summary>Refused: the connection is closing or closed.</summary>
    Closed,
}

/// <summary>
/// A connection's bounded outbound queue, drained by one writer. It is all an actor ever sees of a
/// socket: actors enqueue and request a close; the transport does every read and write.
/// </summary>
internal interface IOutbox
{
    /// <summary>True once a close was requested (by either side) or the connection was lost.</summary>
    bool IsClosed { get; }

    /// <summary>Queues <paramref name="message"/> unless the queue is over its bounds (Overflow) or closing.</summary>
    EnqueueResult TryEnqueue(OutboundMessage message);

    /// <summary>
    /// As <see cref="TryEnqueue"/>, for a caller that enqueues to many outboxes in a row and can hand their frames to
    /// the sockets afterwards (TCP_CORK's idea, one level up): when the frame would have been written at once (nothing
    /// queued, no writer), it is held instead, <paramref name="uncorkLater"/> is true, and the caller must call
    /// <see cref="Uncork"/> once, soon. Until then what else is enqueued here waits behind it, and then leaves with it in
    /// one write.
    /// </summary>
    EnqueueResult TryEnqueueCorked(OutboundMessage message, out bool uncorkLater);

    /// <summary>Writes the frame of a corked enqueue, and what queued up behind it, and hands them to the socket with one flush.</summary>
    void Uncork();

    /// <summary>
    /// Writes what is queued (unless <paramref name="discardPending"/>), then a close frame with
    /// <paramref name="code"/> and <paramref name="reason"/>, and completes the close handshake or drops
    /// the TCP connection at its close deadline (1 to 1.2 times the handshake timeout). The first close
    /// requested wins; later ones are ignored.
    /// </summary>
    void Close(int code, string reason, bool discardPending = false);
}

/// <summary>Receives what the transport reads from one socket, in order, on the socket's read loop.</summary>
internal interface IInboundHandler
{
    /// <summary>A complete data message; <paramref name="payload"/> is owned by the handler from now on.</summary>
    void OnMessage(byte[] payload, bool isText);

    /// <summary>A WebSocket protocol ping or pong arrived (proof the client is there).</summary>
    void OnHeartbeat();

    /// <summary>
    /// The connection ended: a close frame from the client, a protocol error, the size limit, or a lost connection (1006).
    /// Called once, after every frame read before it. After the client's close frame the socket's answering close
    /// frame waits for <see cref="IOutbox.Close"/> (at most the close handshake timeout), so the handler closes the
    /// outbox once it has dealt with what came before.
    /// </summary>
    void OnClosed(int code, string reason);
}
