namespace Gateway.WebSockets;

/// <summary>
/// The connection under one <see cref="WebSocketConnection"/>, as the socket needs it beyond its two pipes: a way to
/// drop it, and someone to tell when the socket has ended. One object per socket, instead of two delegates and a
/// closure: it lives as long as the socket, so its size counts per idle connection (docs/performance.md).
/// </summary>
internal interface ISocketTransport
{
    /// <summary>Drops the TCP connection at once, without a close handshake (a close that timed out, RFC 6455 §7.1.1).</summary>
    void Abort();

    /// <summary>
    /// Called exactly once, when the socket has ended, with the close code it ended with (RFC 6455 §7.4; 1006 when no
    /// close frame was exchanged). Both pipes are completed by then, unless the teardown itself failed: the call comes
    /// from a <c>finally</c>, so a connection's slot is freed on every path.
    /// </summary>
    void OnEnded(int code);
}
