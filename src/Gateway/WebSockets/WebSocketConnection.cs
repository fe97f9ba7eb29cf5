using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Text;
using System.Text.Unicode;

namespace Gateway.WebSockets;

/// <summary>
/// Per-socket bounds, from <see cref="Hosting.LimitsOptions"/>; <paramref name="ReadAheadBytes"/> (bytes) from
/// <see cref="Hosting.SocketsOptions.ReadBufferBytes"/>: how far the read loop reads on, unconsumed, while it holds back
/// (to see the client leave), on a transport that does not read ahead itself.
/// </summary>
internal sealed record WebSocketSettings(int MaxMessageBytes, long OutboundQueueBytes, int OutboundQueueMessages, TimeSpan CloseHandshakeTimeout, int ReadAheadBytes = 64 * 1024);

/// <summary>
/// One server-side WebSocket (RFC 6455) over an upgraded HTTP/1.1 connection. The connection's task runs
/// <see cref="RunAsync"/>, the read loop; writes go through the bounded outbox and are drained by
/// one writer at a time, scheduled on demand (an idle socket has no writer task and holds no
/// buffer: reads are zero-byte until data arrives).
/// </summary>
internal sealed partial class WebSocketConnection : IOutbox
{
    private const int MaxBatch = 64;

    // A read that holds or completes a message of at least this many bytes is processed on the thread pool.
    private const int InlineMessageBytes = 64 * 1024;

    /// <summary>The first allocation of a message that does not arrive whole in one read.</summary>
    private const int MinimumGrowth = 4096;

    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly ISocketTransport _transport;
    private readonly WebSocketSettings _settings;
    private readonly ILogger _log;
    private readonly Hosting.GatewayMetrics? _metrics;

    // Outbox, guarded by a lock on this instance (internal; actors only ever see it as IOutbox, and
    // no extra lock object per socket).
    private Queue<Queued>? _queue;
    private long _queuedBytes;
    private bool _draining;

    // The frame of a corked enqueue, held (the writer's turn with it) until its uncork writes it into the pipe: a frame
    // written at once would hold a pipe buffer (4 KiB) per socket for the whole cork, thousands at once in a fan-out,
    // nearly all of them new arrays (performance.md, "Ninth session: a corked frame is held, not written").
    private OutboundMessage? _corked;
    private bool _writerCompleted;
    private bool _closeRequested;
    private byte[]? _closePayload;
    private bool _closeSent;
    private TaskCompletionSource? _drained;

    // The TCP connection was dropped (AbortTransport): what the writer still holds can no longer reach the client.
    private volatile bool _aborted;

    // The client closed first: what our close frame echoes (its code, or nothing), sent once the handler closes
    // (so whatever the client sent before its close is answered first), signalled to the teardown waiting for it.
    private byte[]? _peerCloseEcho;
    private TaskCompletionSource? _closeRequestedSignal;
    private int _closeCode = CloseCodes.Abnormal;
    private string _closeReason = string.Empty;

    // Read side, touched only by the read loop.
    private IInboundHandler? _handler;
    private InboundFlow? _flow;
    private bool _closeReceived;
    private bool _inMessage;
    private Opcode _messageOpcode;

    // The message being assembled: grown as its bytes arrive (never to a length a header declares), and
    // counted against the inbound budget as _budgetHeld while it is partial.
    private byte[]? _message;
    private int _messageLength;
    private long _budgetHeld;
    private bool _inFrame;
    private bool _skipFrame;
    private FrameHeader _frame;
    private long _frameRemaining;
    private int _frameMaskOffset;

    // Closing (RFC 6455 §7.1.1): frames are read and dropped until the peer's close frame, the close
    // timeout, or the end of the connection, so the close frame is not overtaken by a TCP reset.
    private bool _discarding;

    // Closing after a header that cannot even be measured: every byte is dropped.
    private bool _unframed;
    private int _notified;
    private CancellationTokenSource? _closeTimer;
    private CancellationTokenSource? _creditWait;

    /// <summary>
    /// Set when the read-ahead handed the reader back with everything examined: the read loop's next read then returns
    /// the buffered bytes at once (through a cancelled read) instead of waiting for new ones. Read loop only.
    /// </summary>
    private bool _resumeAfterReadAhead;

    /// <summary>
    /// Set before every cancelled read meant to end the read loop (a close timeout, a failed write, both close frames
    /// crossed), so that one merging with a resume (<see cref="_resumeAfterReadAhead"/>) into a single cancelled read
    /// still ends it.
    /// </summary>
    private volatile bool _stopReading;

    /// <summary>Whether the read loop reads ahead itself while it holds back (the transport does not).</summary>
    private readonly bool _readAhead;

    /// <summary>
    /// A WebSocket over the connection's own pipes (the lean path) or over pipes wrapping an upgraded stream;
    /// <paramref name="readAhead"/> when the transport reads only when asked (a stream pipe over the socket).
    /// </summary>
    public WebSocketConnection(PipeReader input, PipeWriter output, ISocketTransport transport, WebSocketSettings settings, ILogger log, Hosting.GatewayMetrics? metrics = null, bool readAhead = false)
    {
        _readAhead = readAhead;
        _metrics = metrics;
        _input = input;
        _output = output;
        _transport = transport;
        _settings = settings;
        _log = log;
    }

    public bool IsClosed
    {
        get
        {
            lock (this)
            {
                return _closeRequested;
            }
        }
    }

    /// <summary>Payload bytes queued and not yet handed to the socket; a corked frame, held for its uncork, is not counted.</summary>
    public long QueuedBytes
    {
        get
        {
            lock (this)
            {
                return _queuedBytes;
            }
        }
    }

    public EnqueueResult TryEnqueue(OutboundMessage message) => Enqueue(message, cork: false, out _);

    /// <inheritdoc/>
    public EnqueueResult TryEnqueueCorked(OutboundMessage message, out bool uncorkLater) => Enqueue(message, cork: true, out uncorkLater);

    /// <summary>
    /// Ends the writer's turn that a corked enqueue began: writes its frame, and what was queued behind it, into the
    /// pipe and hands it all to the socket with one flush. Called once for each enqueue that answered
    /// <c>uncorkLater</c>; until then the outbox counts as draining, so whatever else is enqueued waits in its queue.
    /// </summary>
    public void Uncork()
    {
        try
        {
            lock (this)
            {
                if (_corked is not { } corked)
                {
                    return;
                }

                _corked = null;
                if (_writerCompleted)
                {
                    // The teardown gave up waiting and completed the pipe: nothing may be written any more.
                    _draining = false;
                    _drained?.TrySetResult();
                    return;
                }

                WriteFrame(corked.Opcode, corked.Payload.Span);

                WriteQueuedFrames();
            }
        }
        catch (Exception exception)
        {
            OnWriteFailed(exception);
            return;
        }

        FlushWrittenFrame();
    }

    private EnqueueResult Enqueue(OutboundMessage message, bool cork, out bool uncorkLater)
    {
        uncorkLater = false;
        var overflow = false;
        var tookWriterTurn = false;
        Exception? writeFailed = null;
        lock (this)
        {
            if (_closeRequested)
            {
                return EnqueueResult.Closed;
            }

            var length = message.Payload.Length;
            if (!_draining && _queue is not { Count: > 0 })
            {
                // Nothing queued and no writer: write it now, on the caller's thread (or, corked, at the uncork, which
                // is on the caller's thread too). This saves a thread-pool hop per message on the common path (one
                // message per socket per send).
                _draining = true;
                if (cork)
                {
                    _corked = message;
                }
                else
                {
                    try
                    {
                        WriteFrame(message.Opcode, message.Payload.Span);
                    }
                    catch (Exception exception)
                    {
                        // The pipe refused the bytes (it was completed or is broken): the connection is lost, as when a
                        // drain's write fails. Handled after the lock, never thrown at the sender (an actor).
                        writeFailed = exception;
                    }
                }

                tookWriterTurn = true;
            }
            else
            {
                var queue = _queue ??= new Queue<Queued>();

                // One message larger than the byte bound still goes to a client that has nothing queued.
                if (queue.Count > 0 && (queue.Count >= _settings.OutboundQueueMessages || _queuedBytes + length > _settings.OutboundQueueBytes))
                {
                    overflow = true;
                }
                else
                {
                    queue.Enqueue(new Queued(message, _metrics is { QueueDelayEnabled: true } ? System.Diagnostics.Stopwatch.GetTimestamp() : 0));
                    _queuedBytes += length;
                    if (!_draining)
                    {
                        _draining = true;
                        ScheduleDrain();
                    }
                }
            }
        }

        if (writeFailed is not null)
        {
            OnWriteFailed(writeFailed);
            return EnqueueResult.Closed;
        }

        if (tookWriterTurn)
        {
            // A corked frame is written and flushed by its uncork instead.
            uncorkLater = cork;
            if (!cork)
            {
                FlushWrittenFrame();
            }

            return EnqueueResult.Enqueued;
        }

        if (overflow)
        {
            // A client that does not read must not hold memory or delay anyone: drop its backlog and close it.
            Log.SlowConsumer(_log, _settings.OutboundQueueMessages, _settings.OutboundQueueBytes);
            _metrics?.SlowConsumer();
            Close(CloseCodes.SlowConsumer, "slow consumer", discardPending: true);
            return EnqueueResult.Overflow;
        }

        return EnqueueResult.Enqueued;
    }

    /// <summary>
    /// Sends a close frame with <paramref name="code"/> after what is queued (or instead of it with
    /// <paramref name="discardPending"/>). After the client's own close frame, ours echoes the client's code
    /// instead (RFC 6455 §5.5.1).
    /// </summary>
    public void Close(int code, string reason, bool discardPending = false)
    {
        byte[]? echo;
        lock (this)
        {
            echo = _peerCloseEcho;
        }

        RequestClose(echo ?? WebSocketFrames.ClosePayload(code, reason), code, reason, discardPending);
    }

    /// <summary>
    /// Runs the read loop until the connection ends; then drains the writer and completes the pipes. After a
    /// close was requested by either side it keeps reading, dropping data, until the peer's close frame, the
    /// end of the connection or the close deadline (<see cref="CloseDeadline"/>: 1 to 1.2 times
    /// <see cref="WebSocketSettings.CloseHandshakeTimeout"/>; RFC 6455 §7.1.1).
    /// </summary>
    public async Task RunAsync(IInboundHandler handler, InboundFlow flow, CancellationToken connectionAborted)
    {
        _handler = handler;
        _flow = flow;
        try
        {
            var waitForBudget = false;
            while (true)
            {
                if (waitForBudget && !IsClosed)
                {
                    await WaitAsync(static (f, token) => f.Budget.WaitForPartialRoomAsync().WaitAsync(token), flow, connectionAborted).ConfigureAwait(false);
                }
                else if (!flow.HasCredit && !IsClosed)
                {
                    await WaitAsync(static (f, token) => f.WaitForCreditAsync(token), flow, connectionAborted).ConfigureAwait(false);
                }

                if (_stopReading)
                {
                    // A stop whose cancelled read a read-ahead's own cancellation may have swallowed.
                    break;
                }

                var result = await _input.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    if (_stopReading || !_resumeAfterReadAhead)
                    {
                        break;
                    }

                    _resumeAfterReadAhead = false;
                }

                var buffer = result.Buffer;
                if (_messageLength + buffer.Length >= InlineMessageBytes && !Thread.CurrentThread.IsThreadPoolThread)
                {
                    // On a socket event thread (InlineSocketCompletions) with a large message in hand: its validation and
                    // the dialect's parse (a jac message may be 16 MiB) go to the thread pool, not ahead of every other
                    // socket this event thread serves.
                    await Task.Yield();
                }

                var outcome = ProcessFrames(ref buffer, flow);
                waitForBudget = outcome == ParseOutcome.WaitForBudget;
                if (outcome is ParseOutcome.Paused or ParseOutcome.WaitForBudget)
                {
                    _input.AdvanceTo(buffer.Start); // the rest is read again once there is room
                }
                else
                {
                    _input.AdvanceTo(buffer.Start, buffer.End);
                }

                if (outcome == ParseOutcome.Stop)
                {
                    break;
                }

                if (result.IsCompleted)
                {
                    if (!_closeReceived)
                    {
                        MarkLost();
                    }

                    break;
                }
            }
        }
        catch (Exception exception) when (exception is IOException or OperationCanceledException or ObjectDisposedException
            or Microsoft.AspNetCore.Connections.ConnectionResetException or Microsoft.AspNetCore.Connections.ConnectionAbortedException)
        {
            Log.ReadEnded(_log, exception.GetType().Name, exception.Message);
            MarkLost();
        }
        catch (Exception exception)
        {
            Log.ReadFailed(_log, exception);
            MarkLost();
        }

        DropMessage();
        await TearDownAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Backpressure: the app is behind with this connection (or with all of them), or a partial message waits
    /// for room in the inbound budget, so the read loop stops reading and lets TCP flow control push back on
    /// the client. A close request or the loss of the connection ends the wait.
    /// </summary>
    private async Task WaitAsync(Func<InboundFlow, CancellationToken, Task> wait, InboundFlow flow, CancellationToken connectionAborted)
    {
        var cancel = CancellationTokenSource.CreateLinkedTokenSource(connectionAborted);
        Volatile.Write(ref _creditWait, cancel);
        flow.HoldsBackReading = true;
        var readAhead = Task.FromResult(false);
        try
        {
            if (!IsClosed)
            {
                if (_readAhead)
                {
                    // Only on a transport that reads only when asked: Kestrel's transport reads ahead itself (up to its
                    // MaxReadBufferSize) and sees a client leave, so a second read-ahead would only hold the bytes twice.
                    readAhead = ReadAheadUntilEndAsync(cancel);
                }

                await wait(flow, cancel.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!connectionAborted.IsCancellationRequested)
        {
            // Closing, or the client is gone (the read-ahead saw the end): go on reading, which completes the close
            // handshake or finds the end of the connection.
        }
        finally
        {
            flow.HoldsBackReading = false;
            Volatile.Write(ref _creditWait, null);
            cancel.Cancel();
            if (await readAhead.ConfigureAwait(false))
            {
                // It examined everything it read: without this the loop's next read would wait for bytes beyond those.
                _resumeAfterReadAhead = true;
                _input.CancelPendingRead();
            }

            cancel.Dispose();
        }
    }

    /// <summary>
    /// While the loop holds back, reads on without consuming, up to <see cref="WebSocketSettings.ReadAheadBytes"/>, so that
    /// a client that leaves meanwhile is seen: then it cancels the wait. Kestrel's transport does this reading on its
    /// own; a stream pipe reads only when asked. Ends when <paramref name="wait"/> is cancelled or the bound is reached.
    /// Returns whether it left the reader with everything examined (the loop must then be handed the bytes back).
    /// </summary>
    private async Task<bool> ReadAheadUntilEndAsync(CancellationTokenSource wait)
    {
        var examinedAll = false;
        try
        {
            while (true)
            {
                var result = await _input.ReadAsync(wait.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                if (result.IsCanceled)
                {
                    // A cancellation meant for the read loop (a close timeout, a failed write): pass it on as it is.
                    _input.AdvanceTo(buffer.Start);
                    _input.CancelPendingRead();
                    return false;
                }

                if (result.IsCompleted)
                {
                    // The end is there: the loop's next read returns it at once, with the bytes before it.
                    _input.AdvanceTo(buffer.Start);
                    await wait.CancelAsync().ConfigureAwait(false);
                    return false;
                }

                if (buffer.Length >= _settings.ReadAheadBytes)
                {
                    _input.AdvanceTo(buffer.Start);
                    return false;
                }

                _input.AdvanceTo(buffer.Start, buffer.End);
                examinedAll = true;
            }
        }
        catch (OperationCanceledException)
        {
            // The wait is over.
            return examinedAll;
        }
        catch (Exception exception) when (exception is IOException or ObjectDisposedException
            or Microsoft.AspNetCore.Connections.ConnectionResetException or Microsoft.AspNetCore.Connections.ConnectionAbortedException)
        {
            // The connection broke: the loop's own read finds out.
            await wait.CancelAsync().ConfigureAwait(false);
            return examinedAll;
        }
    }

    private enum ParseOutcome
    {
        NeedMore,
        Paused,
        WaitForBudget,
        Stop,
    }

    private enum Reservation
    {
        Granted,
        Wait,
        Refused,
    }

    /// <summary>
    /// Consumes what it can: whole control frames, and data-frame payload as it arrives (so a message can
    /// be larger than the transport's read buffer, and memory follows the bytes received). Stops after a
    /// complete message when the connection has no inbound credit left, or inside one while the inbound
    /// budget has no room for it, leaving the rest unread.
    /// </summary>
    private ParseOutcome ProcessFrames(ref ReadOnlySequence<byte> buffer, InboundFlow flow)
    {
        while (true)
        {
            if (!_discarding && Volatile.Read(ref _closeRequested))
            {
                EnterDiscarding();
            }

            if (_unframed)
            {
                buffer = buffer.Slice(buffer.End);
                return ParseOutcome.NeedMore;
            }

            if (!_inFrame)
            {
                if (!WebSocketFrames.TryReadHeader(buffer, out var header))
                {
                    return ParseOutcome.NeedMore;
                }

                if (_discarding)
                {
                    if (header.Opcode == Opcode.Close && header.PayloadLength is >= 0 and <= 125)
                    {
                        var closeLength = header.HeaderLength + header.PayloadLength;
                        if (buffer.Length < closeLength)
                        {
                            return ParseOutcome.NeedMore;
                        }

                        // The peer's answer to our close: the handshake is complete, the TCP connection can go.
                        buffer = buffer.Slice(closeLength);
                        _closeReceived = true;
                        return ParseOutcome.Stop;
                    }

                    SkipFrame(ref buffer, header);
                    continue;
                }

                if (ValidateHeader(header) is { } failure)
                {
                    Fail(failure.Code, failure.Reason);
                    SkipFrame(ref buffer, header);
                    continue;
                }

                if (header.IsControl)
                {
                    var length = header.HeaderLength + header.PayloadLength;
                    if (buffer.Length < length)
                    {
                        return ParseOutcome.NeedMore;
                    }

                    var payload = buffer.Slice(header.HeaderLength, header.PayloadLength);
                    buffer = buffer.Slice(length);
                    if (!HandleControlFrame(header, payload))
                    {
                        return ParseOutcome.Stop;
                    }

                    continue;
                }

                buffer = buffer.Slice(header.HeaderLength);
                BeginDataFrame(header);
            }

            var take = Math.Min(buffer.Length, _frameRemaining);
            if (take > 0)
            {
                if (!_skipFrame)
                {
                    switch (Reserve(take, buffer.Length >= _frameRemaining, flow))
                    {
                        case Reservation.Wait:
                            return ParseOutcome.WaitForBudget;
                        case Reservation.Refused:
                            continue; // now discarding: the rest of this frame is skipped
                    }

                    if (!CopyPayload(buffer.Slice(0, take)))
                    {
                        continue;
                    }
                }

                buffer = buffer.Slice(take);
                _frameRemaining -= take;
            }

            if (_frameRemaining > 0)
            {
                return ParseOutcome.NeedMore;
            }

            _inFrame = false;
            if (_skipFrame)
            {
                _skipFrame = false;
                continue;
            }

            if (!_frame.Fin)
            {
                continue;
            }

            DeliverMessage();
            if (!_discarding && !flow.HasCredit && !IsClosed)
            {
                return ParseOutcome.Paused;
            }
        }
    }

    /// <summary>Drops the frame that starts at <paramref name="buffer"/> as its bytes arrive (no buffering), or every byte when its length is unusable.</summary>
    private void SkipFrame(ref ReadOnlySequence<byte> buffer, FrameHeader header)
    {
        if (header.PayloadLength < 0)
        {
            _unframed = true;
            return;
        }

        buffer = buffer.Slice(header.HeaderLength);
        _frame = header;
        _frameRemaining = header.PayloadLength;
        _inFrame = true;
        _skipFrame = true;
    }

    /// <summary>From now on nothing is delivered: the message being assembled is dropped, the frame being read skipped.</summary>
    private void EnterDiscarding()
    {
        _discarding = true;
        _inMessage = false;
        _skipFrame = _inFrame;
        DropMessage();
    }

    /// <summary>
    /// Room in the inbound budget for <paramref name="bytes"/> more of the current message. A message that is
    /// complete in the bytes at hand is handed over at once and not counted here (the handler counts it); a
    /// partial one waits for room, or is refused with 1013 when the budget is all partial messages.
    /// </summary>
    private Reservation Reserve(long bytes, bool frameEndsHere, InboundFlow flow)
    {
        if (frameEndsHere && _frame.Fin && _messageLength == 0)
        {
            return Reservation.Granted;
        }

        var budget = flow.Budget;
        if (!budget.HasRoomForPartial)
        {
            if (!budget.IsStalled)
            {
                return Reservation.Wait;
            }

            Fail(CloseCodes.TryAgainLater, "inbound budget exhausted");
            return Reservation.Refused;
        }

        budget.AddPartial(bytes);
        _budgetHeld += bytes;
        return Reservation.Granted;
    }

    private (int Code, string Reason)? ValidateHeader(FrameHeader header)
    {
        if (header.Reserved != 0)
        {
            return (CloseCodes.ProtocolError, "reserved bits set without an extension");
        }

        if (!header.Masked)
        {
            return (CloseCodes.ProtocolError, "client frames must be masked");
        }

        if (header.PayloadLength < 0)
        {
            return (CloseCodes.ProtocolError, "invalid payload length");
        }

        switch (header.Opcode)
        {
            case Opcode.Close or Opcode.Ping or Opcode.Pong:
                if (!header.Fin || header.PayloadLength > 125)
                {
                    return (CloseCodes.ProtocolError, "invalid control frame");
                }

                return null;
            case Opcode.Continuation:
                if (!_inMessage)
                {
                    return (CloseCodes.ProtocolError, "continuation frame without a message");
                }

                break;
            case Opcode.Text or Opcode.Binary:
                if (_inMessage)
                {
                    return (CloseCodes.ProtocolError, "new message inside a fragmented message");
                }

                break;
            default:
                return (CloseCodes.ProtocolError, "unknown opcode");
        }

        var total = (_inMessage ? _messageLength : 0) + header.PayloadLength;
        return total > _settings.MaxMessageBytes ? (CloseCodes.MessageTooBig, "message too big") : null;
    }

    /// <summary>Handles one complete control frame; false when reading should stop.</summary>
    private bool HandleControlFrame(FrameHeader header, in ReadOnlySequence<byte> payload)
    {
        switch (header.Opcode)
        {
            case Opcode.Ping:
                var pong = new byte[payload.Length];
                WebSocketFrames.UnmaskCopy(payload, pong, header.MaskKey, 0);
                TryEnqueue(new OutboundMessage(Opcode.Pong, pong));
                _handler!.OnHeartbeat();
                return true;
            case Opcode.Pong:
                _handler!.OnHeartbeat();
                return true;
            default:
                return HandleClose(header, payload);
        }
    }

    private void BeginDataFrame(FrameHeader header)
    {
        _frame = header;
        _frameRemaining = header.PayloadLength;
        _frameMaskOffset = 0;
        _inFrame = true;
        _skipFrame = false;
        if (header.Opcode == Opcode.Continuation)
        {
            return;
        }

        _inMessage = true;
        _messageOpcode = header.Opcode;
        _messageLength = 0;
    }

    /// <summary>Unmasks <paramref name="chunk"/> onto the message; false (and closing with 1013) when memory for it cannot be had.</summary>
    private bool CopyPayload(in ReadOnlySequence<byte> chunk)
    {
        var length = (int)chunk.Length;
        try
        {
            EnsureCapacity(_messageLength + length);
        }
        catch (OutOfMemoryException)
        {
            // No client may take the process down: this one is refused, the others go on.
            Fail(CloseCodes.TryAgainLater, "out of memory");
            return false;
        }

        _frameMaskOffset = WebSocketFrames.UnmaskCopy(chunk, _message.AsSpan(_messageLength, length), _frame.MaskKey, _frameMaskOffset);
        _messageLength += length;
        return true;
    }

    /// <summary>
    /// Grows the message buffer to hold <paramref name="needed"/> bytes: at most twice what has arrived, and
    /// within a final frame never past that frame's end, so a message in one frame ends exactly sized.
    /// </summary>
    private void EnsureCapacity(int needed)
    {
        var capacity = _message?.Length ?? 0;
        if (capacity >= needed)
        {
            return;
        }

        var bound = _frame.Fin ? _messageLength + _frameRemaining : (long)_settings.MaxMessageBytes;
        var target = (int)Math.Max(needed, Math.Min(Math.Max((long)capacity * 2, MinimumGrowth), bound));
        var grown = GC.AllocateUninitializedArray<byte>(target);
        if (_messageLength > 0)
        {
            _message.AsSpan(0, _messageLength).CopyTo(grown);
        }

        _message = grown;
    }

    private void DeliverMessage()
    {
        byte[] message;
        try
        {
            message = _message is null ? [] : _message.Length == _messageLength ? _message : _message.AsSpan(0, _messageLength).ToArray();
        }
        catch (OutOfMemoryException)
        {
            Fail(CloseCodes.TryAgainLater, "out of memory");
            return;
        }

        DropMessage(); // do not keep an assembly buffer on an idle socket
        _inMessage = false;
        var isText = _messageOpcode == Opcode.Text;
        if (isText && !Utf8.IsValid(message))
        {
            Fail(CloseCodes.InvalidPayload, "text message is not valid UTF-8");
            return;
        }

        if (!IsClosed)
        {
            // After a close was requested, data frames still in flight are discarded (RFC 6455 §5.5.1).
            _handler!.OnMessage(message, isText);
        }
    }

    /// <summary>Forgets the message being assembled and gives its bytes back to the inbound budget.</summary>
    private void DropMessage()
    {
        _message = null;
        _messageLength = 0;
        if (_budgetHeld > 0)
        {
            _flow?.Budget.ReleasePartial(_budgetHeld);
            _budgetHeld = 0;
        }
    }

    private bool HandleClose(FrameHeader header, in ReadOnlySequence<byte> payload)
    {
        var bytes = new byte[payload.Length];
        WebSocketFrames.UnmaskCopy(payload, bytes, header.MaskKey, 0);
        _closeReceived = true;
        if (bytes.Length == 1)
        {
            Fail(CloseCodes.ProtocolError, "invalid close frame");
            return false;
        }

        var code = bytes.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(bytes) : CloseCodes.NoStatus;
        if (bytes.Length >= 2 && !CloseCodes.IsValidOnWire(code))
        {
            Fail(CloseCodes.ProtocolError, "invalid close code");
            return false;
        }

        if (!Utf8.IsValid(bytes.AsSpan(Math.Min(2, bytes.Length))))
        {
            Fail(CloseCodes.InvalidPayload, "close reason is not valid UTF-8");
            return false;
        }

        var reason = bytes.Length > 2 ? Encoding.UTF8.GetString(bytes, 2, bytes.Length - 2) : string.Empty;

        // Our close frame echoes the client's code (RFC 6455 §5.5.1; with no code, an empty close frame), but
        // only once the handler has dealt with every frame read before this one and closes in turn: a ping the
        // client sent just before closing gets its pong first. The teardown waits for that close.
        lock (this)
        {
            _peerCloseEcho = bytes.Length >= 2 ? bytes[..2] : [];
        }

        Notify(code, reason);
        return false;
    }

    /// <summary>
    /// Closes for a client error (1002, 1007, 1009) or for want of memory (1013): sends the close frame, tells the
    /// handler, and goes on reading and discarding until the client's close frame (RFC 6455 §7.1.1).
    /// </summary>
    private void Fail(int code, string reason)
    {
        Log.ProtocolClose(_log, code, reason);
        Close(code, reason, discardPending: code is CloseCodes.MessageTooBig or CloseCodes.TryAgainLater);
        Notify(code, reason);
        EnterDiscarding();
    }

    private void MarkLost()
    {
        lock (this)
        {
            if (!_closeRequested)
            {
                _closeRequested = true;
                _closePayload = null;
                _closeCode = CloseCodes.Abnormal;
                _closeReason = "connection lost";
                _queue?.Clear();
                _queuedBytes = 0;
            }
        }

        Notify(CloseCodes.Abnormal, "connection lost");
    }

    private void RequestClose(byte[] payload, int code, string reason, bool discardPending)
    {
        lock (this)
        {
            if (_closeRequested)
            {
                return;
            }

            _closeRequested = true;
            _closePayload = payload;
            _closeCode = code;
            _closeReason = reason;

            // Whoever started the close, the TCP connection is gone by its close deadline. Armed before the teardown
            // can be released (below), so the teardown always finds and disposes it.
            var deadline = CloseDeadline(_settings.CloseHandshakeTimeout, Random.Shared.NextDouble());
            var timer = new CancellationTokenSource(deadline);
            timer.Token.UnsafeRegister(static state => ((WebSocketConnection)state!).OnCloseTimeout(), this);
            Interlocked.Exchange(ref _closeTimer, timer)?.Dispose();
            _closeRequestedSignal?.TrySetResult();
            if (discardPending)
            {
                _queue?.Clear();
                _queuedBytes = 0;
            }

            if (!_draining)
            {
                _draining = true;
                ScheduleDrain();
            }
        }

        try
        {
            Volatile.Read(ref _creditWait)?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The read loop finished waiting meanwhile.
        }
    }

    /// <summary>
    /// How long after a close request the TCP connection is dropped if the handshake has not ended: between 1 and
    /// 1.2 times <paramref name="timeout"/>, as <paramref name="draw"/> (uniform in [0, 1)) falls. Never less than the
    /// timeout, so every client has all of it to answer (RFC 6455 §7.1.1). Spread because connections closed together
    /// (1,000 slow consumers overflowing on one send) would otherwise be dropped in one instant, and their teardowns
    /// (exceptions from the cancelled writes, actor stops, close callbacks) would stall every other socket's sends at
    /// once (performance.md, "Seventeenth session").
    /// </summary>
    internal static TimeSpan CloseDeadline(TimeSpan timeout, double draw) =>
        timeout * (1 + (CloseDeadlineSpread * Math.Clamp(draw, 0, 1)));

    /// <summary>Share of the close handshake timeout over which drops of connections closed together spread.</summary>
    internal const double CloseDeadlineSpread = 0.2;

    private void OnCloseTimeout()
    {
        // Marked before anything can release the teardown, so the teardown never completes the writer plainly (which
        // would write into the socket about to be dropped).
        _aborted = true;
        Log.CloseHandshakeTimedOut(_log, _settings.CloseHandshakeTimeout);
        try
        {
            StopReading();
            _output.CancelPendingFlush();
            AbortTransport();
        }
        catch (Exception exception) when (exception is InvalidOperationException or ObjectDisposedException)
        {
            // The connection finished meanwhile; this runs on a timer thread, where nothing may escape.
            Log.WriteFailed(_log, exception.GetType().Name, exception.Message);
        }
    }

    private void Notify(int code, string reason)
    {
        if (Interlocked.Exchange(ref _notified, 1) == 0)
        {
            _handler?.OnClosed(code, reason);
        }
    }

    /// <summary>
    /// Flushes a frame written on the caller's thread. On Kestrel's transport the send happens on its own I/O queue; on
    /// the lean transport's stream pipe it is the socket send itself, on this thread. Either way this returns at once
    /// unless the socket is backed up; then the usual drain takes over when the flush completes. Whatever was queued
    /// meanwhile is drained the usual way.
    /// </summary>
    private void FlushWrittenFrame()
    {
        ValueTask<FlushResult> flush;
        try
        {
            flush = _output.FlushAsync();
        }
        catch (Exception exception)
        {
            OnWriteFailed(exception);
            return;
        }

        if (flush.IsCompletedSuccessfully)
        {
            var result = flush.Result;
            if (result.IsCanceled || result.IsCompleted)
            {
                OnWriteFailed(new OperationCanceledException("the connection is closing"));
                return;
            }

            ContinueOrStopDraining();
        }
        else
        {
            _ = AwaitFlushThenDrainAsync(flush);
        }
    }

    private async Task AwaitFlushThenDrainAsync(ValueTask<FlushResult> flush)
    {
        try
        {
            var result = await flush.ConfigureAwait(false);
            if (result.IsCanceled || result.IsCompleted)
            {
                // Not thrown: a burst of teardowns (1,000 slow consumers timing out together) would pay for each throw.
                OnWriteFailed(new OperationCanceledException("the connection is closing"));
                return;
            }
        }
        catch (Exception exception)
        {
            OnWriteFailed(exception);
            return;
        }

        ContinueOrStopDraining();
    }

    /// <summary>The writer's turn ends: hand over to a drain if anything (or a close) is waiting.</summary>
    private void ContinueOrStopDraining()
    {
        lock (this)
        {
            if (_queue is not { Count: > 0 } && (_closePayload is null || _closeSent))
            {
                _draining = false;
                _drained?.TrySetResult();
                return;
            }
        }

        ScheduleDrain();
    }

    private void ScheduleDrain() =>
        ThreadPool.UnsafeQueueUserWorkItem(static connection => _ = connection.DrainAsync(), this, preferLocal: false);

    private async Task DrainAsync()
    {
        try
        {
            while (true)
            {
                var wroteClose = false;
                lock (this)
                {
                    if (WriteQueuedFrames() == 0)
                    {
                        if (_closePayload is not null && !_closeSent)
                        {
                            WriteFrame(Opcode.Close, _closePayload);
                            _closeSent = true;
                            wroteClose = true;
                        }
                        else
                        {
                            _draining = false;
                            _drained?.TrySetResult();
                            return;
                        }
                    }
                }

                var flush = await _output.FlushAsync().ConfigureAwait(false);
                if (flush.IsCanceled || flush.IsCompleted)
                {
                    OnWriteFailed(new OperationCanceledException("the connection is closing"));
                    return;
                }

                if (wroteClose && _closeReceived)
                {
                    // Both close frames have crossed: the handshake is complete.
                    StopReading();
                }
            }
        }
        catch (Exception exception)
        {
            OnWriteFailed(exception);
        }
    }

    private void OnWriteFailed(Exception exception)
    {
        _aborted = true; // before the teardown is released below: see OnCloseTimeout
        Log.WriteFailed(_log, exception.GetType().Name, exception.Message);
        lock (this)
        {
            _queue?.Clear();
            _queuedBytes = 0;
            _closeRequested = true;
            _closeSent = true;
            _draining = false;
            _drained?.TrySetResult();
            _closeRequestedSignal?.TrySetResult(); // nothing more can be sent: the teardown need not wait for a close
        }

        StopReading();
        AbortTransport();
    }

    /// <summary>Drops the TCP connection (a write that failed, a close handshake that timed out).</summary>
    private void AbortTransport()
    {
        _aborted = true;
        _transport.Abort();
    }

    /// <summary>Ends the read loop: its pending or next read returns cancelled, and the loop stops there.</summary>
    private void StopReading()
    {
        _stopReading = true;
        _input.CancelPendingRead();
    }

    /// <summary>
    /// Copies up to <see cref="MaxBatch"/> queued frames into the pipe, under the lock, and returns how many. The copy
    /// is short, only this socket's producers can contend, and no batch buffer is allocated per drain.
    /// </summary>
    private int WriteQueuedFrames()
    {
        var count = 0;
        var now = 0L;
        while (count < MaxBatch && _queue is { Count: > 0 } queue)
        {
            var (message, enqueuedAt) = queue.Dequeue();
            if (enqueuedAt != 0)
            {
                now = now != 0 ? now : System.Diagnostics.Stopwatch.GetTimestamp();
                _metrics!.QueueDelay(enqueuedAt, now);
            }

            _queuedBytes -= message.Payload.Length;
            WriteFrame(message.Opcode, message.Payload.Span);
            count++;
        }

        return count;
    }

    private void WriteFrame(Opcode opcode, ReadOnlySpan<byte> payload)
    {
        var header = _output.GetSpan(WebSocketFrames.MaxServerHeaderLength);
        _output.Advance(WebSocketFrames.WriteHeader(header, opcode, payload.Length));
        _output.Write(payload);
    }

    private async Task TearDownAsync()
    {
        // The transport hears the end whatever happens here: it frees the connection's slot (ISocketTransport.OnEnded).
        // The close code is settled once a close was requested, which the teardown makes sure of first.
        try
        {
            await TearDownCoreAsync().ConfigureAwait(false);
        }
        finally
        {
            int code;
            lock (this)
            {
                code = _closeCode;
            }

            _transport.OnEnded(code);
        }
    }

    private async Task TearDownCoreAsync()
    {
        await AwaitCloseAfterPeerCloseAsync().ConfigureAwait(false);
        int code;
        string reason;
        Task drained;
        lock (this)
        {
            if (!_closeRequested)
            {
                _closeRequested = true;
                _closePayload = null;
            }

            code = _closeCode;
            reason = _closeReason;
            if (_draining)
            {
                _drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                drained = _drained.Task;
            }
            else
            {
                drained = Task.CompletedTask;
            }
        }

        Notify(code, reason);
        var writerBusy = false;
        try
        {
            await drained.WaitAsync(_settings.CloseHandshakeTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _output.CancelPendingFlush();
            AbortTransport();

            // The flush in flight ends with the abort. The writer is completed only after it: a stream pipe's writer, unlike
            // a Pipe's, must not be completed while it flushes (both would return the same buffers to the pool).
            try
            {
                await drained.WaitAsync(_settings.CloseHandshakeTimeout).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                writerBusy = true;
            }
        }

        Interlocked.Exchange(ref _closeTimer, null)?.Dispose();
        await CompleteQuietlyAsync(_input.CompleteAsync()).ConfigureAwait(false);
        lock (this)
        {
            _writerCompleted = true; // an uncork that comes later must not touch the pipe
        }

        if (!writerBusy)
        {
            // After an abort, the bytes the writer still holds (a frame whose flush was cancelled) are discarded:
            // completing with an exception does not write them, where a plain completion would send them into the
            // dropped socket and throw. That throw, times 1,000 slow consumers timing out together, was most of their
            // teardown.
            var aborted = _aborted ? new Microsoft.AspNetCore.Connections.ConnectionAbortedException("the connection was dropped") : null;
            await CompleteQuietlyAsync(_output.CompleteAsync(aborted)).ConfigureAwait(false);
        }
    }

    /// <summary>Completes a pipe of a connection that may be gone: a stream pipe's writer still tries to send what it holds.</summary>
    private async Task CompleteQuietlyAsync(ValueTask completion)
    {
        try
        {
            await completion.ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is IOException or ObjectDisposedException or OperationCanceledException
            or Microsoft.AspNetCore.Connections.ConnectionResetException or Microsoft.AspNetCore.Connections.ConnectionAbortedException)
        {
            Log.WriteFailed(_log, exception.GetType().Name, exception.Message);
        }
    }

    /// <summary>
    /// After the client's close frame, waits (at most the close handshake timeout) for the handler to close the
    /// socket, which it does after the frames read before the close; closes with the echo itself if it does not.
    /// </summary>
    private async Task AwaitCloseAfterPeerCloseAsync()
    {
        Task requested;
        byte[] echo;
        lock (this)
        {
            if (_peerCloseEcho is null || _closeRequested)
            {
                return;
            }

            echo = _peerCloseEcho;
            _closeRequestedSignal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            requested = _closeRequestedSignal.Task;
        }

        try
        {
            await requested.WaitAsync(_settings.CloseHandshakeTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            var code = echo.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(echo) : CloseCodes.NoStatus;
            RequestClose(echo, code, "close not answered by the connection", discardPending: true);
        }
    }

    /// <summary>A queued message and when it was queued (a <see cref="System.Diagnostics.Stopwatch"/> timestamp; 0 when nobody measures queue delay).</summary>
    private readonly record struct Queued(OutboundMessage Message, long EnqueuedAt);

    private static partial class Log
    {
        [LoggerMessage(EventId = 100, Level = LogLevel.Warning, Message = "Slow consumer: outbound queue over {Messages} messages or {Bytes} bytes; closing with 4001")]
        public static partial void SlowConsumer(ILogger logger, int messages, long bytes);

        [LoggerMessage(EventId = 101, Level = LogLevel.Information, Message = "Closing with {Code}: {Reason}")]
        public static partial void ProtocolClose(ILogger logger, int code, string reason);

        [LoggerMessage(EventId = 102, Level = LogLevel.Debug, Message = "Read loop ended: {ExceptionType}: {Message}")]
        public static partial void ReadEnded(ILogger logger, string exceptionType, string message);

        [LoggerMessage(EventId = 105, Level = LogLevel.Warning, Message = "Read loop failed")]
        public static partial void ReadFailed(ILogger logger, Exception exception);

        [LoggerMessage(EventId = 103, Level = LogLevel.Debug, Message = "Write failed: {ExceptionType}: {Message}")]
        public static partial void WriteFailed(ILogger logger, string exceptionType, string message);

        [LoggerMessage(EventId = 104, Level = LogLevel.Debug, Message = "Close handshake not completed by its deadline (1 to 1.2 times {Timeout}); dropping the connection")]
        public static partial void CloseHandshakeTimedOut(ILogger logger, TimeSpan timeout);
    }
}
