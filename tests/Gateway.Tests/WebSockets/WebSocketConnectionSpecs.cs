using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Security.Cryptography;
using Gateway.WebSockets;

namespace Gateway.Tests.WebSockets;

/// <summary>
/// The read side of <see cref="WebSocketConnection"/> over in-memory pipes (issue 10, findings 1-3): memory
/// follows received bytes and partial messages count in the inbound budget; after a close for a client error
/// the loop reads on until the client's close frame (RFC 6455 §7.1.1); registered close codes are echoed.
/// </summary>
public sealed class WebSocketConnectionSpecs
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    private readonly Pipe _input = new();
    private Pipe _output = new();
    private readonly InboundBudget _budget = new(1024 * 1024);
    private readonly RecordingHandler _handler = new();
    private readonly RecordingTransport _transport = new();
    private WebSocketConnection? _connection;

    [Fact]
    public async Task A_declared_length_is_not_allocated_the_bytes_received_are_counted_as_partial()
    {
        var run = Run(maxMessageBytes: 16 * 1024 * 1024);

        await WriteAsync(Frame(0x81, new byte[1000], declaredLength: 10_000_000));
        await WaitUntilAsync(() => _budget.Partial == 1000);

        Assert.Equal(1000, _budget.Pending);
        Assert.Equal(0, _budget.AwaitingApp);
        Assert.True(_budget.HasRoom, "partial messages must not stop complete ones from being read");

        _input.Writer.Complete();
        await run.WaitAsync(Timeout);
        Assert.Equal(0, _budget.Pending);
        Assert.Equal([1006], _transport.Ended); // the connection went without a close frame
    }

    [Fact]
    public async Task A_close_the_client_never_answers_drops_the_transport_after_the_close_handshake_timeout()
    {
        var run = Run(maxMessageBytes: 1000, closeHandshakeTimeout: TimeSpan.FromMilliseconds(300));

        await WriteAsync(Frame(0x82, new byte[5000])); // too big: the gateway closes with 1009, the client stays silent
        Assert.Equal(1009, await ReadCloseAsync());

        await run.WaitAsync(Timeout);

        // The timeout cancels the pending read before it drops the transport, on the timer's thread: the read loop
        // can end first.
        await WaitUntilAsync(() => _transport.Aborts >= 1);
        Assert.Equal([1009], _transport.Ended);
    }

    [Fact]
    public async Task A_connection_dropped_with_a_write_stuck_completes_its_writer_with_the_abort_so_nothing_more_is_sent()
    {
        // Nothing reads the output and it pauses after 1 KiB: a 4 KiB message's flush stays pending, as on a socket
        // whose client reads nothing, until the close handshake times out and the transport is dropped.
        _output = new Pipe(new PipeOptions(pauseWriterThreshold: 1024, resumeWriterThreshold: 512));
        var run = Run(maxMessageBytes: 1000, closeHandshakeTimeout: TimeSpan.FromMilliseconds(300));
        Assert.Equal(EnqueueResult.Enqueued, _connection!.TryEnqueue(OutboundMessage.Text(new string('x', 4096))));
        _connection.Close(4001, "slow consumer", discardPending: true);

        await run.WaitAsync(Timeout);
        await WaitUntilAsync(() => _transport.Ended.Count == 1);
        Assert.True(_transport.Aborts >= 1);
        Assert.Equal([4001], _transport.Ended);

        // Completed with the abort: a stream pipe's writer then discards what it holds instead of writing it into the
        // dropped socket, where every write throws.
        var reader = _output.Reader;
        var ended = await Assert.ThrowsAsync<Microsoft.AspNetCore.Connections.ConnectionAbortedException>(async () =>
        {
            while (true)
            {
                var result = await reader.ReadAsync().AsTask().WaitAsync(Timeout);
                reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    return;
                }
            }
        });
        Assert.Contains("dropped", ended.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_stream_writer_holding_a_frame_when_its_socket_is_dropped_writes_nothing_more_into_it()
    {
        // The lean transport's writer: a stream pipe over the socket. The first write waits, as a send to a client that
        // reads nothing does, until the close handshake times out and cancels it; the frame stays in the writer.
        var socket = new StuckStream();
        var run = Run(maxMessageBytes: 1000, closeHandshakeTimeout: TimeSpan.FromMilliseconds(300), output: PipeWriter.Create(socket));
        Assert.Equal(EnqueueResult.Enqueued, _connection!.TryEnqueue(OutboundMessage.Text(new string('x', 4096))));
        await WaitUntilAsync(() => socket.Writes == 1);
        _connection.Close(4001, "slow consumer", discardPending: true);

        await run.WaitAsync(Timeout);
        await WaitUntilAsync(() => _transport.Ended.Count == 1);

        Assert.True(_transport.Aborts >= 1);
        Assert.Equal(1, socket.Writes); // a plain completion would write the held frame into the dropped socket
        Assert.True(socket.Disposed);
    }

    [Theory]
    [InlineData(0.0, 5_000)]
    [InlineData(0.5, 5_500)]
    [InlineData(0.999_999, 6_000)]
    [InlineData(1.0, 6_000)]
    public void A_close_handshake_gets_at_least_its_timeout_and_drops_are_spread_over_a_fifth_more(double draw, double expectedMs)
    {
        var deadline = WebSocketConnection.CloseDeadline(TimeSpan.FromSeconds(5), draw);

        Assert.InRange(deadline.TotalMilliseconds, expectedMs - 1, expectedMs + 0.01);
    }

    [Fact]
    public async Task A_message_that_arrives_in_pieces_is_delivered_whole_and_gives_its_budget_back()
    {
        var run = Run(maxMessageBytes: 1024 * 1024);
        var payload = RandomNumberGenerator.GetBytes(300_000);
        var frame = Frame(0x82, payload);

        foreach (var chunk in frame.Chunk(7_000))
        {
            await WriteAsync(chunk);
        }

        var message = await _handler.Messages.Reader.ReadAsync().AsTask().WaitAsync(Timeout);
        Assert.Equal(payload, message);
        Assert.Equal(0, _budget.Partial);
        _input.Writer.Complete();
        await run.WaitAsync(Timeout);
    }

    [Fact]
    public async Task When_the_budget_is_all_partial_messages_a_growing_one_is_refused_with_1013()
    {
        var budget = new InboundBudget(10_000);
        var run = Run(maxMessageBytes: 1024 * 1024, budget);
        budget.AddPartial(10_000); // another connection's half-received message holds it all

        await WriteAsync(Frame(0x81, new byte[5000], declaredLength: 100_000));
        var close = await ReadCloseAsync();

        Assert.Equal(1013, close);
        await WriteAsync(new byte[95_000]); // the rest of the refused frame, skipped unbuffered
        await WriteAsync(CloseFrame(1013));
        await run.WaitAsync(Timeout);
        Assert.Equal(10_000, budget.Pending);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task After_a_protocol_error_reading_goes_on_until_the_clients_close_frame(bool oversized)
    {
        var run = Run(maxMessageBytes: 1000);
        var offending = oversized ? Frame(0x82, new byte[5000]) : Frame(0x81, "{}"u8.ToArray(), masked: false);

        await WriteAsync([.. offending, .. Frame(0x82, new byte[70_000]), .. Frame(0x89, "p"u8.ToArray())]);
        var close = await ReadCloseAsync();
        await WriteAsync(Frame(0x82, new byte[70_000]));

        Assert.Equal(oversized ? 1009 : 1002, close);
        Assert.False(run.IsCompleted, "the read loop stopped before the client's close frame");
        await WriteAsync(CloseFrame(close));
        await run.WaitAsync(Timeout);
        Assert.Equal([oversized ? 1009 : 1002], _handler.Closed);
        Assert.Equal(0, _handler.Messages.Reader.Count);
        Assert.Equal([oversized ? 1009 : 1002], _transport.Ended);
        Assert.Equal(0, _transport.Aborts); // the close handshake completed: nothing was dropped
    }

    [Theory]
    [InlineData(1012)]
    [InlineData(1013)]
    [InlineData(1014)]
    public async Task A_registered_close_code_is_echoed(int code)
    {
        var run = Run(maxMessageBytes: 1000);

        await WriteAsync(CloseFrame(code));

        Assert.Equal(code, await ReadCloseAsync());
        await run.WaitAsync(Timeout);
        Assert.Equal([code], _handler.Closed);
        Assert.Equal([code], _transport.Ended); // told once, with the code exchanged
        Assert.Equal(0, _transport.Aborts);
    }

    [Fact]
    public async Task After_the_clients_close_the_echo_waits_for_the_handler_so_what_it_sends_first_goes_first()
    {
        _handler.ClosesSocket = false;
        var run = Run(maxMessageBytes: 1000);

        await WriteAsync(CloseFrame(1000));
        await WaitUntilAsync(() => _handler.ClosedCount == 1);

        // The handler answers what the client sent before its close (a pong), then closes: the echo comes after.
        Assert.Equal(EnqueueResult.Enqueued, _connection!.TryEnqueue(OutboundMessage.Text("{\"event\":\"pong\"}")));
        _connection.Close(1000, string.Empty);

        Assert.Equal([0x1, 0x8], await ReadOpcodesUntilCloseAsync());
        await run.WaitAsync(Timeout);
    }

    [Fact]
    public async Task A_corked_frame_waits_for_the_uncork_and_leaves_with_the_frames_queued_behind_it_in_one_flush()
    {
        var run = Run(maxMessageBytes: 1000);

        Assert.Equal(EnqueueResult.Enqueued, _connection!.TryEnqueueCorked(OutboundMessage.Text("1"), out var first));
        Assert.True(first); // held for the uncork
        Assert.Equal(0, _output.Writer.UnflushedBytes); // not written either: no pipe buffer is held for it meanwhile
        Assert.Equal(EnqueueResult.Enqueued, _connection.TryEnqueueCorked(OutboundMessage.Text("2"), out var second));
        Assert.False(second); // queued behind the corked frame
        Assert.Equal(EnqueueResult.Enqueued, _connection.TryEnqueue(OutboundMessage.Text("3")));
        Assert.False(_output.Reader.TryRead(out _), "a frame was flushed before the uncork");

        _connection.Uncork();

        var read = await _output.Reader.ReadAsync().AsTask().WaitAsync(Timeout);
        Assert.Equal(new byte[] { 0x81, 1, (byte)'1', 0x81, 1, (byte)'2', 0x81, 1, (byte)'3' }, read.Buffer.ToArray());
        _output.Reader.AdvanceTo(read.Buffer.End);

        _input.Writer.Complete();
        await run.WaitAsync(Timeout);
    }

    [Fact]
    public async Task A_close_after_a_corked_frame_follows_it_and_discards_nothing_before_it()
    {
        var run = Run(maxMessageBytes: 1000);

        Assert.Equal(EnqueueResult.Enqueued, _connection!.TryEnqueueCorked(OutboundMessage.Text("1"), out var corked));
        Assert.True(corked);
        _connection.Close(4001, "slow consumer", discardPending: true); // what queued behind the cork goes; the corked frame was accepted
        Assert.Equal(EnqueueResult.Closed, _connection.TryEnqueue(OutboundMessage.Text("2")));
        Assert.False(_output.Reader.TryRead(out _), "the close went out before the uncork");

        _connection.Uncork();

        Assert.Equal([0x1, 0x8], await ReadOpcodesUntilCloseAsync());
        _input.Writer.Complete();
        await run.WaitAsync(Timeout);
    }

    [Fact]
    public async Task A_frame_the_pipe_refuses_when_it_is_enqueued_loses_the_connection_instead_of_throwing_at_the_sender()
    {
        var run = Run(maxMessageBytes: 1000);
        await _output.Writer.CompleteAsync(); // the pipe now refuses every write

        Assert.Equal(EnqueueResult.Closed, _connection!.TryEnqueue(OutboundMessage.Text("1")));

        await WaitUntilAsync(() => _transport.Aborts >= 1);
        Assert.True(_connection.IsClosed);
        await run.WaitAsync(Timeout);
    }

    [Fact]
    public async Task An_uncork_without_a_cork_writes_nothing()
    {
        var run = Run(maxMessageBytes: 1000);

        Assert.Equal(EnqueueResult.Enqueued, _connection!.TryEnqueue(OutboundMessage.Text("1")));
        _connection.Uncork(); // no corked frame: must not flush or drain beside the writer that owns the turn
        _connection.Uncork();

        var read = await _output.Reader.ReadAsync().AsTask().WaitAsync(Timeout);
        Assert.Equal(new byte[] { 0x81, 1, (byte)'1' }, read.Buffer.ToArray());
        _output.Reader.AdvanceTo(read.Buffer.End);
        Assert.False(_output.Reader.TryRead(out _), "an uncork wrote something");

        _input.Writer.Complete();
        await run.WaitAsync(Timeout);
    }

    [Fact]
    public async Task After_the_clients_close_a_handler_that_never_closes_gets_the_echo_sent_after_the_close_handshake_timeout()
    {
        _handler.ClosesSocket = false;
        var run = Run(maxMessageBytes: 1000, closeHandshakeTimeout: TimeSpan.FromMilliseconds(300));

        await WriteAsync(CloseFrame(1001));

        Assert.Equal(1001, await ReadCloseAsync());
        await run.WaitAsync(Timeout);
    }

    [Fact]
    public async Task The_read_loop_says_when_backpressure_parks_it_and_when_it_reads_again()
    {
        var flow = new InboundFlow(100, _budget);
        var run = Run(maxMessageBytes: 1000, flow: flow);
        Assert.False(flow.HoldsBackReading);

        // The app is behind with this connection: the loop parks before its next read.
        flow.Acquire(100);
        await WriteAsync(Frame(0x81, "{}"u8.ToArray()));
        await WaitUntilAsync(() => flow.HoldsBackReading);

        flow.Release(100);
        await _handler.Messages.Reader.ReadAsync().AsTask().WaitAsync(Timeout);
        await WaitUntilAsync(() => !flow.HoldsBackReading);
        _input.Writer.Complete();
        await run.WaitAsync(Timeout);
    }

    private Task Run(int maxMessageBytes, InboundBudget? budget = null, TimeSpan? closeHandshakeTimeout = null, InboundFlow? flow = null, PipeWriter? output = null)
    {
        var settings = new WebSocketSettings(maxMessageBytes, 1024 * 1024, 1024, closeHandshakeTimeout ?? TimeSpan.FromSeconds(30));
        var connection = new WebSocketConnection(_input.Reader, output ?? _output.Writer, _transport, settings, NullLogger.Instance);
        _connection = connection;
        _handler.Connection = connection;
        return Task.Run(() => connection.RunAsync(_handler, flow ?? new InboundFlow(256 * 1024, budget ?? _budget), CancellationToken.None));
    }

    /// <summary>The opcodes of the server's frames up to and including its close frame.</summary>
    private async Task<List<int>> ReadOpcodesUntilCloseAsync()
    {
        using var cancel = new CancellationTokenSource(Timeout);
        var opcodes = new List<int>();
        while (true)
        {
            var result = await _output.Reader.ReadAsync(cancel.Token);
            var buffer = result.Buffer;
            while (WebSocketFrames.TryReadHeader(buffer, out var header) && buffer.Length >= header.HeaderLength + header.PayloadLength)
            {
                opcodes.Add((int)header.Opcode);
                buffer = buffer.Slice(header.HeaderLength + header.PayloadLength);
                if (header.Opcode == Opcode.Close)
                {
                    return opcodes;
                }
            }

            _output.Reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private async Task WriteAsync(byte[] bytes) => await _input.Writer.WriteAsync(bytes);

    /// <summary>Reads the server's frames until a close frame; returns its code.</summary>
    private async Task<int> ReadCloseAsync()
    {
        using var cancel = new CancellationTokenSource(Timeout);
        while (true)
        {
            var result = await _output.Reader.ReadAsync(cancel.Token);
            var buffer = result.Buffer;
            while (WebSocketFrames.TryReadHeader(buffer, out var header) && buffer.Length >= header.HeaderLength + header.PayloadLength)
            {
                var payload = buffer.Slice(header.HeaderLength, header.PayloadLength).ToArray();
                buffer = buffer.Slice(header.HeaderLength + header.PayloadLength);
                if (header.Opcode == Opcode.Close)
                {
                    _output.Reader.AdvanceTo(buffer.Start);
                    return BinaryPrimitives.ReadUInt16BigEndian(payload);
                }
            }

            _output.Reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var cancel = new CancellationTokenSource(Timeout);
        while (!condition())
        {
            await Task.Delay(10, cancel.Token);
        }
    }

    private static byte[] CloseFrame(int code)
    {
        var payload = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)code);
        return Frame(0x88, payload);
    }

    private static byte[] Frame(byte first, byte[] payload, bool masked = true, long? declaredLength = null)
    {
        var length = declaredLength ?? payload.Length;
        var header = new List<byte> { first };
        var maskBit = masked ? 0x80 : 0;
        if (length < 126)
        {
            header.Add((byte)(maskBit | (int)length));
        }
        else if (length <= ushort.MaxValue)
        {
            header.AddRange([(byte)(maskBit | 126), (byte)(length >> 8), (byte)length]);
        }
        else
        {
            header.Add((byte)(maskBit | 127));
            for (var shift = 56; shift >= 0; shift -= 8)
            {
                header.Add((byte)(length >> shift));
            }
        }

        var mask = masked ? RandomNumberGenerator.GetBytes(4) : [];
        header.AddRange(mask);
        return [.. header, .. payload.Select((b, i) => masked ? (byte)(b ^ mask[i & 3]) : b)];
    }

    /// <summary>A socket whose first send waits until cancelled; counts the writes it is asked for.</summary>
    private sealed class StuckStream : Stream
    {
        private int _writes;

        public int Writes => Volatile.Read(ref _writes);

        public bool Disposed { get; private set; }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (Interlocked.Increment(ref _writes) == 1)
            {
                await Task.Delay(System.Threading.Timeout.InfiniteTimeSpan, cancellationToken);
            }
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            Disposed = true;
            base.Dispose(disposing);
        }
    }

    /// <summary>The transport under the socket: counts aborts and records each end it is told of.</summary>
    private sealed class RecordingTransport : ISocketTransport
    {
        private int _aborts;

        public int Aborts => Volatile.Read(ref _aborts);

        public List<int> Ended { get; } = [];

        public void Abort() => Interlocked.Increment(ref _aborts);

        public void OnEnded(int code)
        {
            lock (Ended)
            {
                Ended.Add(code);
            }
        }
    }

    private sealed class RecordingHandler : IInboundHandler
    {
        public System.Threading.Channels.Channel<byte[]> Messages { get; } = System.Threading.Channels.Channel.CreateUnbounded<byte[]>();

        public List<int> Closed { get; } = [];

        public int ClosedCount
        {
            get
            {
                lock (Closed)
                {
                    return Closed.Count;
                }
            }
        }

        /// <summary>The socket this handler closes when told it ended, as the connection actor does.</summary>
        public WebSocketConnection? Connection { get; set; }

        /// <summary>Whether <see cref="OnClosed"/> closes <see cref="Connection"/> at once (otherwise the spec does).</summary>
        public bool ClosesSocket { get; set; } = true;

        public void OnMessage(byte[] payload, bool isText) => Messages.Writer.TryWrite(payload);

        public void OnHeartbeat()
        {
        }

        public void OnClosed(int code, string reason)
        {
            lock (Closed)
            {
                Closed.Add(code);
            }

            if (ClosesSocket)
            {
                Connection?.Close(code, reason);
            }
        }
    }
}
