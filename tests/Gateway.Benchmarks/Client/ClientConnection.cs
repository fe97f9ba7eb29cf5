using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Gateway.Benchmarks.Wire;

namespace Gateway.Benchmarks.Client;

/// <summary>
/// One WebSocket on a raw <see cref="System.Net.Sockets.Socket"/>: the upgrade, a read loop parsing
/// server frames in place, and masked writes. Counters are plain fields written by the read loop only
/// (one at a time per socket) and summed by the report after the phase has settled.
/// </summary>
internal sealed class ClientConnection
{
    private const int InitialBuffer = 4096;
    private static readonly byte[] HeadEnd = "\r\n\r\n"u8.ToArray();

    private readonly ClientWorker _worker;
    private readonly uint _mask = (uint)Random.Shared.Next() | 1u;
    private byte[] _buffer = [];
    private int _start;
    private int _end;
    private byte[]? _fragment;
    private int _fragmentLength;
    private int _ended;
    private int _pumpState;
    private byte[]? _sendBuffer;
    private byte[]? _scratch;
    private bool _pumpWanted;
    private ulong[]? _seen;
    private int _expected;

    public ClientConnection(ClientWorker worker, int index, int user, bool slow)
    {
        _worker = worker;
        Index = index;
        User = user;
        Slow = slow;
    }

    public int Index { get; }

    public int User { get; }

    /// <summary>Never reads after the handshake.</summary>
    public bool Slow { get; }

    public Socket? Socket { get; private set; }

    public bool IsOpen => Socket is not null && Volatile.Read(ref _ended) == 0;

    /// <summary>The close code the server sent (1006 when the connection was lost without one), 0 while open.</summary>
    public int EndCode { get; private set; }

    public long NextPing { get; set; }

    public long PingsSent;
    public long PongsReceived;

    // Per-phase figures; reset lazily by the read loop when it first sees a new phase.
    public int JoinedPhase;
    public int CountedPhase;
    public bool Complete;
    public long Received;
    public long Duplicates;
    public long Unexpected;
    public long OutOfOrder;
    public long FirstTs;
    public long LastTs;
    public int EchoSent;
    public int EchoReceived;
    public long EchoNext;

    /// <summary>Connects from <paramref name="source"/>, upgrades, and returns null, or a short reason for the failure.</summary>
    /// <remarks>
    /// A slow connection asks for a small receive buffer and a small MSS before connecting. Over loopback
    /// (MTU 64 KiB) the gateway's kernel send buffer would otherwise grow to a few MB for a peer that
    /// does not read, and that much would have to be sent before the gateway's own queue saw any of it.
    /// </remarks>
    public async Task<string?> ConnectAsync(IPEndPoint target, IPAddress source, byte[] request, string expectedAccept, int receiveBuffer, int maxSegment, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            try
            {
                // IP_BIND_ADDRESS_NO_PORT: pick the port at connect time, per 4-tuple, not per source address.
                socket.SetRawSocketOption(0, 24, BitConverter.GetBytes(1));
            }
            catch (SocketException)
            {
                // Older kernels: the port is picked at bind time; spreading over addresses still helps.
            }

            if (receiveBuffer > 0)
            {
                socket.ReceiveBufferSize = receiveBuffer;
            }

            if (maxSegment > 0)
            {
                // TCP_MAXSEG, advertised in the SYN.
                socket.SetRawSocketOption(6, 2, BitConverter.GetBytes(maxSegment));
            }

            socket.Bind(new IPEndPoint(source, 0));
            await socket.ConnectAsync(target, cancellationToken).ConfigureAwait(false);
            await socket.SendAsync(request, SocketFlags.None, cancellationToken).ConfigureAwait(false);

            _buffer = new byte[Slow ? 1024 : InitialBuffer];
            int headEnd;
            while ((headEnd = _buffer.AsSpan(0, _end).IndexOf(HeadEnd)) < 0)
            {
                if (_end == _buffer.Length)
                {
                    return "head-too-long";
                }

                var read = await socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return "eof-in-handshake";
                }

                _end += read;
            }

            var head = Encoding.ASCII.GetString(_buffer, 0, headEnd);
            if (!head.StartsWith("HTTP/1.1 101", StringComparison.Ordinal))
            {
                var statusLine = head.Split("\r\n")[0];
                return "http:" + (statusLine.Length > 12 ? statusLine[9..12] : statusLine);
            }

            if (!head.Contains("Sec-WebSocket-Accept: " + expectedAccept, StringComparison.OrdinalIgnoreCase))
            {
                return "bad-accept";
            }

            _start = headEnd + HeadEnd.Length;
            if (Slow)
            {
                _buffer = [];
                _start = _end = 0;
            }

            Socket = socket;
            return null;
        }
        catch (OperationCanceledException)
        {
            socket.Dispose();
            return "timeout";
        }
        catch (SocketException exception)
        {
            socket.Dispose();
            return "socket:" + exception.SocketErrorCode;
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            // Counted like any other failed connect, never a crashed client.
            return "error:" + exception.GetType().Name;
        }
        finally
        {
            if (Socket is null)
            {
                socket.Dispose();
            }
        }
    }

    /// <summary>Reads and handles server frames until the connection ends.</summary>
    public async Task ReadLoopAsync()
    {
        var socket = Socket!;
        try
        {
            if (_end > _start && !HandleFrames(Stopwatch.GetTimestamp()))
            {
                return;
            }

            while (true)
            {
                if (_end == _buffer.Length)
                {
                    MakeRoom(_buffer.Length);
                }

                var read = await socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None).ConfigureAwait(false);
                if (read == 0)
                {
                    End(1006);
                    return;
                }

                _end += read;
                if (!HandleFrames(Stopwatch.GetTimestamp()))
                {
                    return;
                }

                if (_pumpWanted)
                {
                    // One write per read: the next messages of every echo that arrived together go out together.
                    _pumpWanted = false;
                    RequestPump();
                }
            }
        }
        catch (Exception exception) when (exception is SocketException or ObjectDisposedException)
        {
            End(1006);
        }
        catch (Exception exception)
        {
            // A bug here must show in the report, not as a phase that never completes.
            _worker.CountError("read-loop:" + exception.GetType().Name);
            End(1006);
            socket.Dispose();
        }
    }

    /// <summary>Sends a JSON ping (not awaited by the caller; a failure ends the connection).</summary>
    public async Task PingAsync()
    {
        var frame = new byte[WsFrames.MaskedFrameLength(WsFrames.JsonPing.Length)];
        WsFrames.WriteMasked(frame, WsFrames.OpText, WsFrames.JsonPing, _mask);
        Interlocked.Increment(ref PingsSent);
        await SendOrEndAsync(frame).ConfigureAwait(false);
    }

    /// <summary>Starts a close handshake (code 1000); the read loop ends when the server answers.</summary>
    public async Task CloseAsync()
    {
        if (IsOpen)
        {
            await SendOrEndAsync(WsFrames.Close(1000, _mask)).ConfigureAwait(false);
        }
    }

    /// <summary>Drops the TCP connection.</summary>
    public void Abort()
    {
        if (Socket is { } socket)
        {
            End(1006);
            socket.Dispose();
        }
    }

    /// <summary>Starts (or continues) the echo pump: keeps up to the window of messages in flight until the phase's count is sent.</summary>
    public void RequestPump()
    {
        while (true)
        {
            var state = Volatile.Read(ref _pumpState);
            if (state == 0)
            {
                if (Interlocked.CompareExchange(ref _pumpState, 1, 0) == 0)
                {
                    _ = PumpAsync();
                    return;
                }
            }
            else if (state == 1)
            {
                if (Interlocked.CompareExchange(ref _pumpState, 2, 1) == 1)
                {
                    return;
                }
            }
            else
            {
                return;
            }
        }
    }

    /// <summary>The number of messages of <paramref name="phase"/> this connection must get.</summary>
    public int Expected(ClientPhase phase) => phase.IsEcho
        ? phase.Messages
        : ClientProtocol.ExpectedFanout(phase.Messages, phase.Target, _worker.Users, phase.UsersPerSend, User);

    private async Task PumpAsync()
    {
        try
        {
            while (true)
            {
                var phase = _worker.CurrentPhase;
                if (phase is { IsEcho: true } && IsOpen)
                {
                    EnsureCounted(phase);
                    var inFlight = EchoSent - Volatile.Read(ref EchoReceived);
                    var count = Math.Min(phase.Messages - EchoSent, phase.Window - inFlight);
                    if (count > 0)
                    {
                        var payloadCapacity = Payload.Capacity(phase.PayloadBytes);
                        var frameCapacity = WsFrames.MaskedFrameLength(payloadCapacity);
                        if (_sendBuffer is null || _sendBuffer.Length < count * frameCapacity)
                        {
                            _sendBuffer = new byte[phase.Window * frameCapacity];
                        }

                        if (_scratch is null || _scratch.Length < payloadCapacity)
                        {
                            _scratch = new byte[payloadCapacity];
                        }

                        var length = 0;
                        var now = Stopwatch.GetTimestamp();
                        for (var i = 0; i < count; i++)
                        {
                            var n = Payload.Write(_scratch, EchoSent + i, now, phase.PayloadBytes);
                            length += WsFrames.WriteMasked(_sendBuffer.AsSpan(length), WsFrames.OpText, _scratch.AsSpan(0, n), _mask);
                        }

                        EchoSent += count;
                        await Socket!.SendAsync(_sendBuffer.AsMemory(0, length), SocketFlags.None).ConfigureAwait(false);
                    }
                }

                if (Interlocked.CompareExchange(ref _pumpState, 0, 1) == 1)
                {
                    return;
                }

                Volatile.Write(ref _pumpState, 1);
            }
        }
        catch (Exception exception) when (exception is SocketException or ObjectDisposedException)
        {
            Volatile.Write(ref _pumpState, 0);
            Socket?.Dispose();
        }
    }

    private async Task SendOrEndAsync(byte[] frame)
    {
        try
        {
            await Socket!.SendAsync(frame, SocketFlags.None).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is SocketException or ObjectDisposedException)
        {
            if (Slow)
            {
                // No read loop notices the end of a slow connection.
                End(1006);
            }

            Socket?.Dispose();
        }
    }

    /// <summary>Handles every complete frame in the buffer; false once the connection has ended.</summary>
    private bool HandleFrames(long now)
    {
        while (true)
        {
            var available = _end - _start;
            if (available < 2)
            {
                break;
            }

            var b0 = _buffer[_start];
            var b1 = _buffer[_start + 1];
            long length = b1 & 0x7F;
            var header = 2;
            if (length == 126)
            {
                if (available < 4)
                {
                    break;
                }

                length = BinaryPrimitives.ReadUInt16BigEndian(_buffer.AsSpan(_start + 2));
                header = 4;
            }
            else if (length == 127)
            {
                if (available < 10)
                {
                    break;
                }

                length = (long)BinaryPrimitives.ReadUInt64BigEndian(_buffer.AsSpan(_start + 2));
                header = 10;
            }

            if ((b1 & 0x80) != 0 || length > 64 * 1024 * 1024)
            {
                // A server must not mask; either way the stream cannot be trusted any more.
                _worker.CountError("bad-frame");
                End(1002);
                Socket?.Dispose();
                return false;
            }

            var total = header + (int)length;
            if (available < total)
            {
                if (total > _buffer.Length)
                {
                    MakeRoom(total);
                }

                break;
            }

            var payload = _buffer.AsSpan(_start + header, (int)length);
            var opcode = b0 & 0x0F;
            var fin = (b0 & 0x80) != 0;
            _start += total;
            switch (opcode)
            {
                case 0x1 or 0x2 when fin:
                    OnMessage(payload, now);
                    break;
                case 0x1 or 0x2:
                    _fragmentLength = 0;
                    AppendFragment(payload);
                    break;
                case 0x0:
                    AppendFragment(payload);
                    if (fin)
                    {
                        OnMessage(_fragment.AsSpan(0, _fragmentLength), now);
                        _fragmentLength = 0;
                    }

                    break;
                case WsFrames.OpClose:
                    var code = payload.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(payload) : 1005;
                    End(code);
                    _ = AnswerCloseAndDisposeAsync(code);
                    return false;
                case WsFrames.OpPing:
                    var pong = new byte[WsFrames.MaskedFrameLength(payload.Length)];
                    WsFrames.WriteMasked(pong, WsFrames.OpPong, payload, _mask);
                    _ = SendOrEndAsync(pong);
                    break;
                default:
                    // Protocol pongs: nothing to count.
                    break;
            }
        }

        if (_start == _end)
        {
            _start = _end = 0;
        }

        return true;
    }

    private void OnMessage(ReadOnlySpan<byte> payload, long now)
    {
        if (Payload.IsPong(payload))
        {
            PongsReceived++;
            return;
        }

        var phase = _worker.CurrentPhase;
        if (phase is null || !Payload.TryRead(payload, out var sequence, out var sentAt))
        {
            _worker.CountError("unexpected-frame");
            return;
        }

        EnsureCounted(phase);
        if (Received == 0 && EchoReceived == 0)
        {
            FirstTs = now;
        }

        LastTs = now;
        phase.Record((now - sentAt) / 1000, sequence);
        if (phase.IsEcho)
        {
            if (sequence != EchoNext)
            {
                OutOfOrder++;
            }

            EchoNext = sequence + 1;
            Received++;
            var received = Interlocked.Increment(ref EchoReceived);
            if (received == phase.Messages && !Complete)
            {
                Complete = true;
                phase.ConnectionDone();
            }
            else
            {
                _pumpWanted = true;
            }

            return;
        }

        if (sequence < 0 || sequence >= phase.Messages
            || (phase.Target == "users" && ClientProtocol.GroupOfSend(sequence, _worker.Users, phase.UsersPerSend) != User / phase.UsersPerSend))
        {
            Unexpected++;
            return;
        }

        ref var word = ref _seen![sequence >> 6];
        var bit = 1UL << (int)(sequence & 63);
        if ((word & bit) != 0)
        {
            Duplicates++;
            return;
        }

        word |= bit;
        if (++Received == _expected && !Complete)
        {
            Complete = true;
            phase.ConnectionDone();
        }
    }

    /// <summary>Resets the per-phase figures the first time this connection sees <paramref name="phase"/>.</summary>
    private void EnsureCounted(ClientPhase phase)
    {
        if (CountedPhase == phase.Id)
        {
            return;
        }

        CountedPhase = phase.Id;
        Complete = false;
        Received = Duplicates = Unexpected = OutOfOrder = FirstTs = LastTs = 0;
        EchoSent = 0;
        Volatile.Write(ref EchoReceived, 0);
        EchoNext = 0;
        _expected = Expected(phase);
        if (!phase.IsEcho)
        {
            var words = (phase.Messages + 63) / 64;
            if (_seen is null || _seen.Length != words)
            {
                _seen = new ulong[words];
            }
            else
            {
                Array.Clear(_seen);
            }
        }
    }

    private void AppendFragment(ReadOnlySpan<byte> payload)
    {
        if (_fragment is null || _fragment.Length < _fragmentLength + payload.Length)
        {
            Array.Resize(ref _fragment, Math.Max(4096, (_fragmentLength + payload.Length) * 2));
        }

        payload.CopyTo(_fragment.AsSpan(_fragmentLength));
        _fragmentLength += payload.Length;
    }

    /// <summary>Moves unread bytes to the front, growing the buffer if <paramref name="needed"/> still does not fit.</summary>
    private void MakeRoom(int needed)
    {
        var unread = _end - _start;
        var buffer = needed > _buffer.Length || (unread == _buffer.Length) ? new byte[Math.Max(needed, _buffer.Length * 2)] : _buffer;
        Buffer.BlockCopy(_buffer, _start, buffer, 0, unread);
        _buffer = buffer;
        _start = 0;
        _end = unread;
    }

    private async Task AnswerCloseAndDisposeAsync(int code)
    {
        try
        {
            await Socket!.SendAsync(WsFrames.Close(code is 1005 or 1006 or 1015 ? 1000 : code, _mask), SocketFlags.None).ConfigureAwait(false);
            Socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception exception) when (exception is SocketException or ObjectDisposedException)
        {
            // The server may already have dropped the connection.
        }
        finally
        {
            Socket?.Dispose();
        }
    }

    private void End(int code)
    {
        if (Interlocked.Exchange(ref _ended, 1) != 0)
        {
            return;
        }

        EndCode = code;
        _worker.OnEnded(this, code);
    }
}
