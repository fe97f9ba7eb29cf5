using System.Buffers;
using System.IO.Pipelines;
using System.Net.WebSockets;

namespace Gateway.WebSockets;

/// <summary>Per-socket bounds, from <see cref="Hosting.LimitsOptions"/>.</summary>
internal sealed record WebSocketSettings(int MaxMessageBytes, long OutboundQueueBytes, int OutboundQueueMessages, TimeSpan CloseHandshakeTimeout);

/// <summary>
/// One server-side WebSocket (RFC 6455) over an upgraded HTTP/1.1 connection. The framing is the BCL's
/// (<see cref="WebSocket.CreateFromStream(Stream, WebSocketCreationOptions)"/>, the implementation behind Kestrel's
/// <c>AcceptWebSocketAsync</c>: masking, fragmentation, control frames and pongs, UTF-8 validation of text, close
/// codes) over a <see cref="TransportStream"/> on the connection's pipes. Around it this class keeps what a gateway
/// needs and the BCL leaves to its caller: the bounded outbox (<see cref="IOutbox"/>), memory that follows the bytes
/// received and the inbound budget, the message size limit (1009), keep-alive pings on the shared scheduler, and the
/// close sequence (RFC 6455 §5.5.1, §7.1.1).
/// </summary>
/// <remarks>
/// The connection's task runs <see cref="RunAsync"/>, the read loop; writes go through the outbox and are drained by
/// one writer at a time, scheduled on demand. An idle socket has no writer task and holds no receive buffer: it waits
/// with a zero-byte receive, and a buffer is taken only once a frame header has arrived.
/// </remarks>
internal sealed partial class WebSocketConnection : IOutbox
{
    /// <summary>Most frames written in one flush.</summary>
    private const int MaxBatch = 64;

    /// <summary>The first read of a message: one that arrives whole in it is copied out exactly sized.</summary>
    private const int FirstReadBytes = 4096;

    private readonly TransportStream _transport;
    private readonly WebSocket _socket;
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly Action _abort;
    private readonly WebSocketSettings _settings;
    private readonly ILogger _log;
    private readonly Hosting.GatewayMetrics? _metrics;
    private readonly Action<int>? _ended;

    // Outbox, guarded by a lock on this instance (internal; actors only ever see it as IOutbox, and no extra lock
    // object per socket).
    private Queue<Queued>? _queue;
    private long _queuedBytes;
    private bool _draining;
    private bool _closeRequested;
    private bool _sendCloseFrame;
    private bool _closeSent;
    private TaskCompletionSource? _drained;

    // The client closed first: the code our close frame echoes (RFC 6455 §5.5.1; 1005 for an empty close frame),
    // sent once the handler closes (so whatever the client sent before its close is answered first), signalled to
    // the teardown waiting for it.
    private int? _peerCloseCode;
    private TaskCompletionSource? _closeRequestedSignal;
    private int _closeCode = CloseCodes.Abnormal;
    private string _closeReason = string.Empty;
    private WebSocketCloseStatus _closeStatus;
    private string? _closeDescription;

    // Read side, touched only by the read loop.
    private IInboundHandler? _handler;
    private InboundFlow? _flow;

    // The message being assembled: grown as its bytes arrive (never to a length a header declares), and counted
    // against the inbound budget as _budgetHeld while it is partial.
    private byte[]? _message;
    private int _messageLength;
    private long _budgetHeld;
    private long _messagesReceived;

    // Closing (RFC 6455 §7.1.1): messages are read and dropped until the peer's close frame, the close timeout, or
    // the end of the connection, so our close frame is not overtaken by a TCP reset.
    private bool _discarding;
    private int _notified;
    private CancellationTokenSource? _closeTimer;
    private CancellationTokenSource? _creditWait;
    private CancellationToken _connectionAborted;

    /// <summary>A WebSocket over the connection's own pipes (the lean path) or over pipes wrapping an upgraded stream.</summary>
    public WebSocketConnection(PipeReader input, PipeWriter output, Action abort, WebSocketSettings settings, ILogger log, Hosting.GatewayMetrics? metrics = null, Action<int>? ended = null)
    {
        _input = input;
        _output = output;
        _transport = new TransportStream(input, output);

        // No keep-alive timer of the BCL's (one Timer per socket): keep-alive pings are the connection actor's, on the
        // actor system's scheduler. No permessage-deflate (not negotiated).
        _socket = WebSocket.CreateFromStream(_transport, new WebSocketCreationOptions { IsServer = true, KeepAliveInterval = TimeSpan.Zero });
        _abort = abort;
        _settings = settings;
        _log = log;
        _metrics = metrics;
        _ended = ended;
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

    /// <summary>Payload bytes queued and not yet handed to the socket.</summary>
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

    public EnqueueResult TryEnqueue(OutboundMessage message)
    {
        var overflow = false;
        var writeHere = false;
        lock (this)
        {
            if (_closeRequested)
            {
                return EnqueueResult.Closed;
            }

            var length = message.Payload.Length;
            if (!_draining && _queue is not { Count: > 0 })
            {
                // Nothing queued and no writer: write it now, on the caller's thread. This saves a thread-pool hop
                // per message on the common path (one message per socket per send).
                _draining = true;
                writeHere = true;
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

        if (writeHere)
        {
            WriteOnCallersThread(message);
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
        int? echo;
        lock (this)
        {
            echo = _peerCloseCode;
        }

        var (status, description) = echo is { } peer
            ? (peer == CloseCodes.NoStatus ? WebSocketCloseStatus.Empty : (WebSocketCloseStatus)peer, null)
            : ((WebSocketCloseStatus)code, CloseCodes.Reason(reason));
        RequestClose(status, description, code, reason, discardPending, sendFrame: true);
    }

    /// <summary>
    /// Runs the read loop until the connection ends; then drains the writer and completes the pipes. After a
    /// close was requested by either side it keeps reading, dropping data, until the peer's close frame, the
    /// end of the connection or <see cref="WebSocketSettings.CloseHandshakeTimeout"/> (RFC 6455 §7.1.1).
    /// </summary>
    public async Task RunAsync(IInboundHandler handler, InboundFlow flow, CancellationToken connectionAborted)
    {
        _handler = handler;
        _flow = flow;
        _connectionAborted = connectionAborted;
        _transport.ReportHeartbeatsTo(handler);
        try
        {
            var bytesWaiting = false;
            while (true)
            {
                if (!flow.HasCredit && !IsClosed)
                {
                    await WaitAsync(static (f, token) => f.WaitForCreditAsync(token), flow, connectionAborted).ConfigureAwait(false);
                }

                if (!_discarding && IsClosed)
                {
                    _discarding = true;
                }

                if (_discarding)
                {
                    await DiscardUntilCloseFrameAsync().ConfigureAwait(false);
                    break;
                }

                if (!bytesWaiting && _transport.BclHoldsNothing(_messagesReceived))
                {
                    // Idle: wait for bytes on the pipe itself (consuming nothing), so an idle socket keeps no receive of
                    // the BCL suspended, only this loop.
                    var peek = await _input.ReadAsync().ConfigureAwait(false);
                    _input.AdvanceTo(peek.Buffer.Start);
                    if (peek.IsCanceled)
                    {
                        throw new OperationCanceledException("the connection is closing");
                    }

                    bytesWaiting = true;
                    continue; // credit and closing are looked at again before the BCL reads
                }

                bytesWaiting = false;

                // Read a frame header without holding a buffer; control frames are answered by the BCL.
                var head = await _socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).ConfigureAwait(false);
                if (head.MessageType != WebSocketMessageType.Close && IsClosed)
                {
                    continue; // closed meanwhile: this message is discarded with the rest
                }

                if (head.MessageType == WebSocketMessageType.Close || !await ReadMessageAsync(head).ConfigureAwait(false))
                {
                    OnCloseFrame();
                    break;
                }
            }
        }
        catch (Exception exception) when (IsFailedByTheBcl(exception))
        {
            // A protocol error or invalid UTF-8: the BCL sent its close frame (1002, 1007) and aborted. Tell the handler,
            // then read on, dropping everything, so the close frame is not overtaken by a reset (RFC 6455 §7.1.1, §7.1.7).
            var code = _transport.CloseFrameCode;
            Log.ProtocolClose(_log, code, exception.Message);
            RequestClose(default, null, code, exception.Message, discardPending: true, sendFrame: false);
            Notify(code, exception.Message);
            DropMessage();
            await DiscardUntilEndAsync().ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException
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
        try
        {
            if (!IsClosed)
            {
                await wait(flow, cancel.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!connectionAborted.IsCancellationRequested)
        {
            // Closing: go on reading to complete the close handshake.
        }
        finally
        {
            flow.HoldsBackReading = false;
            Volatile.Write(ref _creditWait, null);
            cancel.Dispose();
        }
    }

    /// <summary>
    /// Reads the message whose first frame header <paramref name="head"/> announced, as its bytes arrive, and hands it
    /// to the handler; false when the client's close frame came instead. A message that arrives whole in the first read
    /// is handed over at once; a partial one is counted in the inbound budget as it grows, waits for room there, and is
    /// refused with 1013 when the budget is all partial messages, and with 1009 past the size limit.
    /// </summary>
    private async Task<bool> ReadMessageAsync(ValueWebSocketReceiveResult head)
    {
        var isText = head.MessageType == WebSocketMessageType.Text;
        if (head.EndOfMessage)
        {
            _messagesReceived++;
            Deliver([], isText);
            return true;
        }

        var limit = _settings.MaxMessageBytes;
        var first = ArrayPool<byte>.Shared.Rent(FirstReadBytes);
        try
        {
            // The BCL fills what it is given (or reaches the frame's end) before it returns: a message still arriving
            // holds this buffer meanwhile, so it counts against the inbound budget (a message already here does not).
            var receive = _socket.ReceiveAsync(first.AsMemory(0, Math.Min(first.Length, limit + 1)), CancellationToken.None);
            var waited = 0;
            if (!receive.IsCompleted)
            {
                waited = first.Length;
                _flow!.Budget.AddPartial(waited);
                _budgetHeld += waited;
            }

            var result = await receive.ConfigureAwait(false);
            if (waited > 0)
            {
                _flow!.Budget.ReleasePartial(waited);
                _budgetHeld -= waited;
            }

            if (result.MessageType == WebSocketMessageType.Close)
            {
                return false;
            }

            if (result.Count > limit)
            {
                Fail(CloseCodes.MessageTooBig, "message too big");
                return true;
            }

            if (result.EndOfMessage)
            {
                _messagesReceived++;
                if (TryCopy(first.AsSpan(0, result.Count)) is { } whole)
                {
                    Deliver(whole, isText);
                }

                return true;
            }

            if (!await TryGrowWithinBudgetAsync(Math.Max(result.Count * 2, FirstReadBytes)).ConfigureAwait(false))
            {
                return true;
            }

            first.AsSpan(0, result.Count).CopyTo(_message);
            _messageLength = result.Count;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(first);
        }

        while (true)
        {
            // Full (the BCL fills what it is given before it returns): grow, within the budget.
            if (_messageLength == _message!.Length && !await TryGrowWithinBudgetAsync(_messageLength * 2).ConfigureAwait(false))
            {
                return true;
            }

            var result = await _socket.ReceiveAsync(_message.AsMemory(_messageLength), CancellationToken.None).ConfigureAwait(false);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return false;
            }

            // The buffer ends one byte past the limit: that byte is what proves the message too big.
            if (_messageLength + result.Count > limit)
            {
                Fail(CloseCodes.MessageTooBig, "message too big");
                return true;
            }

            _messageLength += result.Count;
            if (result.EndOfMessage)
            {
                _messagesReceived++;
                var message = _message.Length == _messageLength ? _message : TryCopy(_message.AsSpan(0, _messageLength));
                DropMessage(); // do not keep an assembly buffer on an idle socket
                if (message is not null)
                {
                    Deliver(message, isText);
                }

                return true;
            }
        }
    }

    /// <summary>
    /// <see cref="TryGrow"/> once the inbound budget has room for a partial message to grow: waits for it while
    /// callbacks can free some, refuses the message with 1013 when the budget is all partial messages. False when the
    /// message is not to be read on (refused, or the socket closed meanwhile).
    /// </summary>
    private async Task<bool> TryGrowWithinBudgetAsync(int capacity)
    {
        var budget = _flow!.Budget;
        while (!budget.HasRoomForPartial)
        {
            if (budget.IsStalled)
            {
                Fail(CloseCodes.TryAgainLater, "inbound budget exhausted");
                return false;
            }

            await WaitAsync(static (f, token) => f.Budget.WaitForPartialRoomAsync().WaitAsync(token), _flow, _connectionAborted).ConfigureAwait(false);
            if (IsClosed)
            {
                return false; // the read loop goes on discarding
            }
        }

        return TryGrow(capacity);
    }

    /// <summary>
    /// Grows the message buffer to <paramref name="capacity"/> (twice what has arrived, at least
    /// <see cref="FirstReadBytes"/>, never past the limit plus the one byte that proves it exceeded) and counts the
    /// growth against the inbound budget: the budget holds the memory partial messages really take, which is at most
    /// twice the bytes received. False (and closing with 1013) when memory for it cannot be had.
    /// </summary>
    private bool TryGrow(int capacity)
    {
        try
        {
            var grown = GC.AllocateUninitializedArray<byte>((int)Math.Min(capacity, (long)_settings.MaxMessageBytes + 1));
            _message?.AsSpan(0, _messageLength).CopyTo(grown);
            var added = grown.Length - (_message?.Length ?? 0);
            _message = grown;
            _flow!.Budget.AddPartial(added);
            _budgetHeld += added;
            return true;
        }
        catch (OutOfMemoryException)
        {
            // No client may take the process down: this one is refused, the others go on.
            Fail(CloseCodes.TryAgainLater, "out of memory");
            return false;
        }
    }

    private byte[]? TryCopy(ReadOnlySpan<byte> bytes)
    {
        try
        {
            return bytes.ToArray();
        }
        catch (OutOfMemoryException)
        {
            Fail(CloseCodes.TryAgainLater, "out of memory");
            return null;
        }
    }

    private void Deliver(byte[] message, bool isText)
    {
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

    /// <summary>After our close: receives and drops messages (without buffering them) until the client's close frame.</summary>
    private async Task DiscardUntilCloseFrameAsync()
    {
        DropMessage();
        var scratch = ArrayPool<byte>.Shared.Rent(FirstReadBytes);
        try
        {
            while (_socket.State is WebSocketState.Open or WebSocketState.CloseSent)
            {
                var result = await _socket.ReceiveAsync(scratch.AsMemory(), CancellationToken.None).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    OnCloseFrame();
                    return;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    /// <summary>After the BCL failed the socket: drops frames until the client's close frame, the end of the connection or the close timeout.</summary>
    private async Task DiscardUntilEndAsync()
    {
        try
        {
            await _transport.DiscardUntilCloseFrameAsync().ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is IOException or OperationCanceledException or InvalidOperationException
            or Microsoft.AspNetCore.Connections.ConnectionResetException or Microsoft.AspNetCore.Connections.ConnectionAbortedException)
        {
            Log.ReadEnded(_log, exception.GetType().Name, exception.Message);
        }
    }

    /// <summary>
    /// The client's close frame (validated by the BCL: a registered code, UTF-8 reason). When the client closed
    /// first, our close frame echoes its code (RFC 6455 §5.5.1; an empty one when it sent none), but only once the
    /// handler has dealt with every message read before and closes in turn: a ping the client sent just before
    /// closing gets its pong first. The teardown waits for that close.
    /// </summary>
    private void OnCloseFrame()
    {
        var code = (int?)_socket.CloseStatus ?? CloseCodes.NoStatus;
        var reason = _socket.CloseStatusDescription ?? string.Empty;
        lock (this)
        {
            if (_closeRequested)
            {
                return; // the answer to our close: the handshake is complete, the handler was told
            }

            _peerCloseCode = code;
        }

        Notify(code, reason);
    }

    /// <summary>True when <paramref name="exception"/> is the BCL failing the socket after sending its own close frame.</summary>
    private bool IsFailedByTheBcl(Exception exception)
    {
        // Aborted after a frame it refused; Closed after a close frame it refused (bad code, length or reason).
        if (exception is not WebSocketException || _socket.State is not (WebSocketState.Aborted or WebSocketState.Closed) || _transport.CloseFrameCode == 0)
        {
            return false;
        }

        lock (this)
        {
            return !_closeSent;
        }
    }

    /// <summary>
    /// Closes for a client error (1009) or for want of memory (1013): sends the close frame, tells the handler, and
    /// goes on reading and discarding until the client's close frame (RFC 6455 §7.1.1).
    /// </summary>
    private void Fail(int code, string reason)
    {
        Log.ProtocolClose(_log, code, reason);
        Close(code, reason, discardPending: true);
        Notify(code, reason);
        _discarding = true;
        DropMessage();
    }

    private void MarkLost()
    {
        lock (this)
        {
            if (!_closeRequested)
            {
                _closeRequested = true;
                _sendCloseFrame = false;
                _closeCode = CloseCodes.Abnormal;
                _closeReason = "connection lost";
                _queue?.Clear();
                _queuedBytes = 0;
            }
        }

        Notify(CloseCodes.Abnormal, "connection lost");
    }

    private void RequestClose(WebSocketCloseStatus status, string? description, int code, string reason, bool discardPending, bool sendFrame)
    {
        lock (this)
        {
            if (_closeRequested)
            {
                return;
            }

            _closeRequested = true;
            _sendCloseFrame = sendFrame;
            _closeStatus = status;
            _closeDescription = description;
            _closeCode = code;
            _closeReason = reason;

            // Whoever started the close, the TCP connection is gone within the handshake timeout. Armed before the
            // teardown can be released (below), so the teardown always finds and disposes it.
            var timer = new CancellationTokenSource(_settings.CloseHandshakeTimeout);
            timer.Token.UnsafeRegister(static state => ((WebSocketConnection)state!).OnCloseTimeout(), this);
            Interlocked.Exchange(ref _closeTimer, timer)?.Dispose();
            _closeRequestedSignal?.TrySetResult();
            if (discardPending)
            {
                _queue?.Clear();
                _queuedBytes = 0;
            }

            if (!_draining && sendFrame)
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

    private void OnCloseTimeout()
    {
        Log.CloseHandshakeTimedOut(_log, _settings.CloseHandshakeTimeout);
        try
        {
            _input.CancelPendingRead();
            _output.CancelPendingFlush();
            _abort();
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
    /// Writes a message on the caller's thread. The transport sends it on its own I/O queue, so this returns at once
    /// unless the socket is backed up; then the usual drain takes over when the write completes.
    /// </summary>
    private void WriteOnCallersThread(OutboundMessage message)
    {
        ValueTask send;
        try
        {
            send = SendAsync(message);
        }
        catch (Exception exception)
        {
            OnWriteFailed(exception);
            return;
        }

        if (send.IsCompletedSuccessfully)
        {
            ContinueOrStopDraining();
        }
        else
        {
            _ = AwaitSendThenDrainAsync(send);
        }
    }

    private async Task AwaitSendThenDrainAsync(ValueTask send)
    {
        try
        {
            await send.ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            OnWriteFailed(exception);
            return;
        }

        ContinueOrStopDraining();
    }

    private ValueTask SendAsync(OutboundMessage message) => message.Opcode switch
    {
        Opcode.Text => _socket.SendAsync(message.Payload, WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None),
        Opcode.Binary => _socket.SendAsync(message.Payload, WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None),
        _ => _transport.WritePingAsync(),
    };

    /// <summary>The writer's turn ends: hand over to a drain if anything (or a close) is waiting.</summary>
    private void ContinueOrStopDraining()
    {
        lock (this)
        {
            if (_queue is not { Count: > 0 } && !(_sendCloseFrame && !_closeSent))
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

    /// <summary>
    /// Writes what is queued, then the close frame if one was asked for. Frames queued together leave in one flush:
    /// every write but the last of a batch (at most <see cref="MaxBatch"/>) is corked.
    /// </summary>
    private async Task DrainAsync()
    {
        try
        {
            var batch = 0;
            while (true)
            {
                OutboundMessage? next = null;
                lock (this)
                {
                    if (_queue is { Count: > 0 } queue)
                    {
                        var (message, enqueuedAt) = queue.Dequeue();
                        if (enqueuedAt != 0)
                        {
                            _metrics!.QueueDelay(enqueuedAt, System.Diagnostics.Stopwatch.GetTimestamp());
                        }

                        _queuedBytes -= message.Payload.Length;
                        next = message;
                        batch = queue.Count > 0 && batch + 1 < MaxBatch ? batch + 1 : 0;
                        _transport.Corked = batch > 0;
                    }
                    else if (_sendCloseFrame && !_closeSent)
                    {
                        _closeSent = true;
                    }
                    else
                    {
                        _draining = false;
                        _drained?.TrySetResult();
                        return;
                    }
                }

                if (next is not null)
                {
                    await SendAsync(next).ConfigureAwait(false);
                }
                else if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                {
                    await _socket.CloseOutputAsync(_closeStatus, _closeDescription, CancellationToken.None).ConfigureAwait(false);
                }
            }
        }
        catch (Exception exception)
        {
            _transport.Corked = false;
            OnWriteFailed(exception);
        }
    }

    private void OnWriteFailed(Exception exception)
    {
        Log.WriteFailed(_log, exception.GetType().Name, exception.Message);
        var failedByTheBcl = _socket.State is WebSocketState.Aborted or WebSocketState.Closed && _transport.CloseFrameCode != 0;
        lock (this)
        {
            failedByTheBcl &= !_closeSent;
            _queue?.Clear();
            _queuedBytes = 0;
            _closeRequested = true;
            _closeSent = true;
            _draining = false;
            _drained?.TrySetResult();
            _closeRequestedSignal?.TrySetResult(); // nothing more can be sent: the teardown need not wait for a close
        }

        if (!failedByTheBcl)
        {
            // Otherwise the read loop drains the connection after the BCL's close frame and ends it.
            _input.CancelPendingRead();
            _abort();
        }
    }

    private async Task TearDownAsync()
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
                _sendCloseFrame = false;
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
        try
        {
            await drained.WaitAsync(_settings.CloseHandshakeTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _output.CancelPendingFlush();
            _abort();
        }

        Interlocked.Exchange(ref _closeTimer, null)?.Dispose();
        _socket.Dispose();
        await _input.CompleteAsync().ConfigureAwait(false);
        await _output.CompleteAsync().ConfigureAwait(false);
        _ended?.Invoke(code);
    }

    /// <summary>
    /// After the client's close frame, waits (at most the close handshake timeout) for the handler to close the
    /// socket, which it does after the frames read before the close; closes with the echo itself if it does not.
    /// </summary>
    private async Task AwaitCloseAfterPeerCloseAsync()
    {
        Task requested;
        int echo;
        lock (this)
        {
            if (_peerCloseCode is not { } peer || _closeRequested)
            {
                return;
            }

            echo = peer;
            _closeRequestedSignal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            requested = _closeRequestedSignal.Task;
        }

        try
        {
            await requested.WaitAsync(_settings.CloseHandshakeTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Close(echo, "close not answered by the connection", discardPending: true);
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

        [LoggerMessage(EventId = 104, Level = LogLevel.Debug, Message = "Close handshake not completed within {Timeout}; dropping the connection")]
        public static partial void CloseHandshakeTimedOut(ILogger logger, TimeSpan timeout);
    }
}
