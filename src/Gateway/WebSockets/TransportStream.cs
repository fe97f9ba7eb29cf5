using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace Gateway.WebSockets;

/// <summary>
/// The <see cref="Stream"/> the BCL's WebSocket (<see cref="System.Net.WebSockets.WebSocket.CreateFromStream(Stream, System.Net.WebSockets.WebSocketCreationOptions)"/>)
/// runs on: the upgraded connection's pipes, without copies kept alive between reads. It owns neither pipe: the
/// <see cref="WebSocketConnection"/> completes them, after the close handshake, so that a WebSocket the BCL aborted
/// (protocol error) still leaves the connection to be drained (RFC 6455 §7.1.1) instead of reset.
/// </summary>
/// <remarks>
/// <para>Reads: a zero-byte read waits for data and consumes nothing, so an idle socket holds no receive buffer
/// (the transport itself waits with zero-byte reads). Bytes arriving after a keep-alive ping, and otherwise at most
/// once a second, are reported as a heartbeat: the BCL answers the client's pings and swallows its pongs, so "bytes
/// from the client" is the liveness signal (PROTOCOL.md §5).</para>
/// <para>Writes: one frame per call (the BCL writes each frame's header and payload in one buffer, under its own
/// send lock), flushed at once unless the socket's writer has more frames to follow (<see cref="Corked"/>). A gate
/// serializes them with the keep-alive pings the gateway writes itself (<see cref="WritePingAsync"/>: the BCL has no
/// API to send one), the only writes not made under the BCL's lock.</para>
/// </remarks>
internal sealed class TransportStream(PipeReader input, PipeWriter output) : Stream
{
    /// <summary>An unmasked ping frame with no payload (RFC 6455 §5.5.2).</summary>
    private static readonly byte[] PingFrame = [0x89, 0x00];

    /// <summary>Milliseconds between heartbeats reported for ordinary traffic.</summary>
    private const long HeartbeatEveryMs = 1000;

    private int _writing;
    private volatile bool _corked;
    private TaskCompletionSource? _writeGateOpened;
    private IInboundHandler? _handler;
    private long _lastHeartbeat;
    private volatile bool _pongWanted;
    private int _closeFrameCode;
    private FrameBoundaries _boundaries;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <summary>
    /// The code of the first close frame written to the client (1005 for one without a code), 0 before any: tells a
    /// close the BCL sent by itself for a protocol error (1002) or invalid UTF-8 (1007) apart from a lost connection.
    /// </summary>
    public int CloseFrameCode => Volatile.Read(ref _closeFrameCode);

    /// <summary>Told <see cref="IInboundHandler.OnHeartbeat"/> (on the read loop) when bytes arrive after a keep-alive ping, and otherwise at most once a second.</summary>
    public void ReportHeartbeatsTo(IInboundHandler handler) => _handler = handler;

    /// <summary>
    /// Whether the BCL has nothing buffered that it has not handed over: every byte it read belongs to the
    /// <paramref name="messagesReceived"/> messages it returned, or to control frames it handled before them. Then the
    /// read loop may wait for bytes on the pipe itself, so that an idle socket keeps no receive of the BCL (and no read
    /// of this stream) suspended.
    /// </summary>
    public bool BclHoldsNothing(long messagesReceived) => _boundaries.HoldsNothingAfter(messagesReceived);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
        var buffer = result.Buffer;
        if (result.IsCanceled)
        {
            input.AdvanceTo(buffer.Start);
            throw new OperationCanceledException("the connection is closing");
        }

        if (destination.IsEmpty || buffer.IsEmpty)
        {
            // Nothing consumed or examined: the next read returns at once with these bytes (or 0 at the end).
            input.AdvanceTo(buffer.Start);
            return 0;
        }

        var count = (int)Math.Min(buffer.Length, destination.Length);
        var taken = buffer.Slice(0, count);
        taken.CopyTo(destination.Span);
        input.AdvanceTo(taken.End);
        _boundaries.Follow(destination.Span[..count]);
        NoteReceived();
        return count;
    }

    /// <summary>
    /// After the BCL failed the WebSocket (and sent its close frame), reads and drops bytes, frame by frame from where
    /// the BCL stopped, until the client's close frame, the end of the connection, or a cancelled read (the close
    /// handshake timeout): closing with unread bytes would reset the connection and lose our close frame (RFC 6455
    /// §7.1.1; §7.1.7: nothing more is processed). True when the client's close frame arrived.
    /// </summary>
    public async Task<bool> DiscardUntilCloseFrameAsync()
    {
        while (!_boundaries.CloseFrameEnded)
        {
            var result = await input.ReadAsync().ConfigureAwait(false);
            var buffer = result.Buffer;
            var consumed = buffer.Start;
            foreach (var segment in buffer)
            {
                var used = _boundaries.Follow(segment.Span);
                consumed = buffer.GetPosition(used, consumed);
                if (_boundaries.CloseFrameEnded)
                {
                    break;
                }
            }

            input.AdvanceTo(consumed);
            if (result.IsCompleted || result.IsCanceled)
            {
                return _boundaries.CloseFrameEnded;
            }
        }

        return true;
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
    {
        NoteCloseFrame(source.Span);
        if (!TryEnterWriteGate())
        {
            return WriteAfterGateAsync(source);
        }

        ValueTask<FlushResult> flush;
        try
        {
            if (_corked)
            {
                // More frames follow at once: copied now, flushed with the last of them.
                output.Write(source.Span);
                ExitWriteGate();
                return ValueTask.CompletedTask;
            }

            flush = output.WriteAsync(source, CancellationToken.None);
        }
        catch
        {
            ExitWriteGate();
            throw;
        }

        if (flush.IsCompletedSuccessfully)
        {
            ExitWriteGate();
            return flush.Result.IsCanceled ? ValueTask.FromException(new OperationCanceledException("the connection is closing")) : ValueTask.CompletedTask;
        }

        return AwaitFlushThenReleaseAsync(flush);
    }

    /// <summary>
    /// Corking: while set, writes are copied into the pipe and not flushed, so that frames queued for one socket leave in
    /// one flush (and, with Kestrel's socket sender, one send). Set only by the socket's one writer, for every frame of a
    /// batch but the last; the last write, made uncorked, flushes them all (and any pong the BCL wrote meanwhile).
    /// </summary>
    public bool Corked
    {
        get => _corked;
        set => _corked = value;
    }

    /// <summary>Writes a keep-alive ping (RFC 6455 §5.5.2); the next bytes from the client count as its answer.</summary>
    public ValueTask WritePingAsync()
    {
        _pongWanted = true;
        return WriteAsync(PingFrame);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Every write is flushed as it is made.</summary>
    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("synchronous I/O");

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("synchronous I/O");

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    private void NoteReceived()
    {
        if (_handler is null)
        {
            return;
        }

        var now = Environment.TickCount64;
        if (_pongWanted || now - _lastHeartbeat >= HeartbeatEveryMs)
        {
            _pongWanted = false;
            _lastHeartbeat = now;
            _handler.OnHeartbeat();
        }
    }

    /// <summary>Server frames are unmasked: a close frame is <c>0x88</c>, a length byte, then the code (if any).</summary>
    private void NoteCloseFrame(ReadOnlySpan<byte> frame)
    {
        if (frame.Length >= 2 && frame[0] == 0x88 && Volatile.Read(ref _closeFrameCode) == 0)
        {
            var code = frame[1] >= 2 && frame.Length >= 4 ? BinaryPrimitives.ReadUInt16BigEndian(frame[2..]) : CloseCodes.NoStatus;
            Interlocked.CompareExchange(ref _closeFrameCode, code, 0);
        }
    }

    private bool TryEnterWriteGate() => Interlocked.CompareExchange(ref _writing, 1, 0) == 0;

    /// <summary>Waits for the write in progress (contended only by a keep-alive ping against a pong or close the BCL writes).</summary>
    private async Task EnterWriteGateAsync()
    {
        while (!TryEnterWriteGate())
        {
            Task opened;
            lock (this)
            {
                _writeGateOpened ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                opened = _writeGateOpened.Task;
            }

            // An exit between the failed entry and publishing the waiter would not have seen it.
            Interlocked.MemoryBarrier();
            if (Volatile.Read(ref _writing) == 0)
            {
                continue;
            }

            await opened.ConfigureAwait(false);
        }
    }

    private void ExitWriteGate()
    {
        Volatile.Write(ref _writing, 0);
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _writeGateOpened) is not null)
        {
            TaskCompletionSource? opened;
            lock (this)
            {
                opened = _writeGateOpened;
                _writeGateOpened = null;
            }

            opened?.TrySetResult();
        }
    }

    private async ValueTask WriteAfterGateAsync(ReadOnlyMemory<byte> source)
    {
        await EnterWriteGateAsync().ConfigureAwait(false);
        try
        {
            if (_corked)
            {
                output.Write(source.Span);
                return;
            }

            var flush = await output.WriteAsync(source, CancellationToken.None).ConfigureAwait(false);
            if (flush.IsCanceled)
            {
                throw new OperationCanceledException("the connection is closing");
            }
        }
        finally
        {
            ExitWriteGate();
        }
    }

    private async ValueTask AwaitFlushThenReleaseAsync(ValueTask<FlushResult> flush)
    {
        try
        {
            if ((await flush.ConfigureAwait(false)).IsCanceled)
            {
                throw new OperationCanceledException("the connection is closing");
            }
        }
        finally
        {
            ExitWriteGate();
        }
    }

    /// <summary>
    /// Where frames begin and end in the bytes handed to the BCL, from their headers' lengths alone (RFC 6455 §5.2: no
    /// unmasking, no validation), so that after the BCL refused a frame reading can go on from the next boundary to the
    /// client's close frame, and so that the read loop knows when the BCL holds no unread frame. A few bytes per socket;
    /// per read, a header is looked at once and a payload skipped whole.
    /// </summary>
    private struct FrameBoundaries
    {
        private const byte FirstByte = 0, SecondByte = 1, ExtendedLength = 2, Body = 3;

        private long _left;
        private long _messages;
        private byte _stage;
        private byte _first;
        private byte _lengthBytes;
        private bool _masked;
        private bool _controlSinceMessage;

        /// <summary>A length that cannot be followed (a 64-bit length with its top bit set): only the end of the connection ends the drain.</summary>
        public bool Lost { get; private set; }

        /// <summary>The client's close frame has been read whole.</summary>
        public bool CloseFrameEnded { get; private set; }

        /// <summary>
        /// True when the bytes followed end exactly after the last frame of message <paramref name="messages"/> (or after
        /// control frames before it): nothing read belongs to a later frame.
        /// </summary>
        public readonly bool HoldsNothingAfter(long messages) => _stage == FirstByte && _messages == messages && !_controlSinceMessage;

        /// <summary>Follows <paramref name="bytes"/>; returns how many were taken (all but what follows a close frame that ends inside them).</summary>
        public int Follow(ReadOnlySpan<byte> bytes)
        {
            var i = 0;
            while (i < bytes.Length && !CloseFrameEnded && !Lost)
            {
                switch (_stage)
                {
                    case FirstByte: // FIN, RSV, opcode
                        _first = bytes[i++];
                        _stage = SecondByte;
                        break;
                    case SecondByte: // MASK, 7-bit length
                        var second = bytes[i++];
                        _masked = (second & 0x80) != 0;
                        _left = second & 0x7F;
                        _lengthBytes = _left switch { 126 => 2, 127 => 8, _ => 0 };
                        if (_lengthBytes > 0)
                        {
                            _left = 0;
                            _stage = ExtendedLength;
                        }
                        else
                        {
                            EndHeader();
                        }

                        break;
                    case ExtendedLength: // big-endian
                        _left = (_left << 8) | bytes[i++];
                        if (--_lengthBytes == 0)
                        {
                            if (_left < 0)
                            {
                                Lost = true;
                                break;
                            }

                            EndHeader();
                        }

                        break;
                    default: // mask key and payload, skipped whole
                        var skip = (int)Math.Min(_left, bytes.Length - i);
                        i += skip;
                        _left -= skip;
                        if (_left == 0)
                        {
                            EndFrame();
                        }

                        break;
                }
            }

            return CloseFrameEnded ? i : bytes.Length;
        }

        private void EndHeader()
        {
            _left += _masked ? 4 : 0;
            _stage = Body;
            if (_left == 0)
            {
                EndFrame();
            }
        }

        private void EndFrame()
        {
            var opcode = _first & 0x0F;
            if ((opcode & 0x8) != 0)
            {
                CloseFrameEnded = opcode == 0x8;
                _controlSinceMessage = true;
            }
            else if ((_first & 0x80) != 0)
            {
                _messages++;
                _controlSinceMessage = false;
            }

            _stage = FirstByte;
        }
    }
}
