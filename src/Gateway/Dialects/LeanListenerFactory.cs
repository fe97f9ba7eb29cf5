using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Gateway.WebSockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Options;

namespace Gateway.Dialects;

/// <summary>
/// Kestrel's transport for IP endpoints when <see cref="Gateway.Hosting.SocketsOptions.LeanTransport"/> is on. It accepts sockets
/// itself and looks at each one's first read (without consuming it): a complete WebSocket upgrade head for a dialect's
/// path, valid as a whole (<see cref="WebSocketUpgradeMiddleware.Routes.LeanDialect"/>), is served right here on the
/// BCL's sockets, and Kestrel never sees that connection. Every other connection (the HTTP path, a head that arrives in
/// pieces or past the lean parser's limits, bytes that are not a GET) is handed to Kestrel unread, over Kestrel's own
/// socket transport (<see cref="SocketConnectionContextFactory"/>), where the lean path's middleware and the HTTP stack
/// take it as before. It does not bind the ports configuration declares TLS (<see cref="CanBind"/>).
/// </summary>
/// <remarks>
/// Kestrel's transport keeps two pipes, their loops and its connection objects alive for a socket's whole life: about
/// 1.5 KB of an idle WebSocket that a <see cref="NetworkStream"/> with stream pipes does not need (performance.md,
/// "Sockets Kestrel never sees"); sending through <see cref="SocketSendStream"/> saves about 400 B more ("Fifteenth
/// session").
/// </remarks>
internal sealed partial class LeanListenerFactory(
    IOptions<SocketTransportOptions> transport, ILoggerFactory loggers, IServiceProvider services, IReadOnlySet<int> tlsPorts)
    : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    /// <summary>
    /// IP endpoints without TLS only: Kestrel's socket transport binds the others (Unix domain sockets, and the ports in
    /// <c>tlsPorts</c>, where a plaintext upgrade must meet the TLS handshake, not be served).
    /// </summary>
    public bool CanBind(EndPoint endpoint) => endpoint is IPEndPoint ip && !tlsPorts.Contains(ip.Port);

    /// <summary>Binds and listens as Kestrel's socket transport does (its own <c>CreateBoundListenSocket</c> and backlog).</summary>
    /// <exception cref="AddressInUseException">The address is taken; Kestrel reports it as for its own transport.</exception>
    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        var options = transport.Value;
        Socket socket;
        try
        {
            socket = options.CreateBoundListenSocket(endpoint);
        }
        catch (SocketException exception) when (exception.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            throw new AddressInUseException(exception.Message, exception);
        }

        try
        {
            socket.Listen(options.Backlog);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var kestrel = new SocketConnectionContextFactory(
            new SocketConnectionFactoryOptions
            {
                IOQueueCount = options.IOQueueCount,
                WaitForDataBeforeAllocatingBuffer = options.WaitForDataBeforeAllocatingBuffer,
                MaxReadBufferSize = options.MaxReadBufferSize,
                MaxWriteBufferSize = options.MaxWriteBufferSize,
                UnsafePreferInlineScheduling = options.UnsafePreferInlineScheduling,
            },
            loggers.CreateLogger("Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets"));
        var routes = new Lazy<WebSocketUpgradeMiddleware.Routes>(() => WebSocketUpgradeMiddleware.Routes.Build(services));
        return new(new Listener(socket, kestrel, routes, options.NoDelay, loggers.CreateLogger<LeanListenerFactory>()));
    }

    private sealed class Listener : IConnectionListener
    {
        /// <summary>How long a new connection may take to send its first bytes before Kestrel's own timeouts take over.</summary>
        private static readonly TimeSpan FirstReadTimeout = TimeSpan.FromSeconds(30);

        private readonly Socket _socket;
        private readonly SocketConnectionContextFactory _kestrel;
        private readonly Lazy<WebSocketUpgradeMiddleware.Routes> _routes;
        private readonly bool _noDelay;
        private readonly ILogger _log;
        private readonly Channel<ConnectionContext> _toKestrel = Channel.CreateUnbounded<ConnectionContext>(new UnboundedChannelOptions { SingleReader = true });

        /// <summary>Cancelled once unbound: sockets still waiting for their first bytes are closed.</summary>
        private readonly CancellationTokenSource _unbound = new();

        public Listener(Socket socket, SocketConnectionContextFactory kestrel, Lazy<WebSocketUpgradeMiddleware.Routes> routes, bool noDelay, ILogger log)
        {
            _socket = socket;
            _kestrel = kestrel;
            _routes = routes;
            _noDelay = noDelay;
            _log = log;
            EndPoint = socket.LocalEndPoint!;
            _ = AcceptLoopAsync();
        }

        public EndPoint EndPoint { get; }

        /// <summary>The next connection for Kestrel; null once unbound.</summary>
        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            try
            {
                return await _toKestrel.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (ChannelClosedException)
            {
                return null;
            }
        }

        public async ValueTask UnbindAsync(CancellationToken cancellationToken = default)
        {
            if (_unbound.IsCancellationRequested)
            {
                return;
            }

            await _unbound.CancelAsync().ConfigureAwait(false);
            _socket.Dispose();
            _toKestrel.Writer.TryComplete();
        }

        public async ValueTask DisposeAsync()
        {
            await UnbindAsync().ConfigureAwait(false);

            // Handed over after Kestrel stopped accepting: nobody will serve them.
            while (_toKestrel.Reader.TryRead(out var connection))
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }

            _kestrel.Dispose();
        }

        private async Task AcceptLoopAsync()
        {
            while (!_unbound.IsCancellationRequested)
            {
                Socket accepted;
                try
                {
                    accepted = await _socket.AcceptAsync().ConfigureAwait(false);
                }
                catch (Exception) when (_unbound.IsCancellationRequested)
                {
                    break;
                }
                catch (SocketException exception) when (exception.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
                {
                    // Gone before it was accepted: the client's doing.
                    Log.AcceptReset(_log, exception.SocketErrorCode);
                    continue;
                }
                catch (Exception exception)
                {
                    // No descriptor left, or something unforeseen: the listener goes on, without a busy loop.
                    Log.AcceptFailed(_log, exception);
                    await Task.Delay(TimeSpan.FromMilliseconds(50)).ConfigureAwait(false);
                    continue;
                }

                _ = ServeAsync(accepted);
            }

            _toKestrel.Writer.TryComplete();
        }

        /// <summary>Serves one accepted socket to its end, or hands it to Kestrel. Never throws.</summary>
        private async Task ServeAsync(Socket socket)
        {
            // Off the accept loop: the first bytes are usually there already, and everything up to the registration would
            // otherwise run before the next accept.
            await Task.Yield();
            WebSocketUpgradeMiddleware.Routes routes;
            try
            {
                routes = _routes.Value;
            }
            catch (Exception exception)
            {
                // The dialects could not be resolved (a configuration the host should have refused): nothing can serve it.
                Log.ServeFailed(_log, exception);
                socket.Dispose();
                return;
            }

            // The same cap as the lean path's middleware (which counts the connections handed to Kestrel itself): past
            // it, close before reading anything.
            if (!routes.Limiter.TryAdmitTransport())
            {
                socket.Dispose();
                return;
            }

            var admitted = true;
            try
            {
                socket.NoDelay = _noDelay;
                var (upgrade, forKestrel) = await TakeUpgradeHeadAsync(socket, routes).ConfigureAwait(false);
                if (upgrade is not { } lean)
                {
                    routes.Limiter.ReleaseTransport();
                    admitted = false;
                    if (forKestrel)
                    {
                        HandToKestrel(socket);
                    }
                    else
                    {
                        socket.Dispose();
                    }

                    return;
                }

                var transport = new SocketUpgradeTransport(socket);
                try
                {
                    if (await ConnectionSession.OpenAsync(lean.Request, transport, lean.Dialect, routes.Runtime, routes.Limiter, routes.Log).ConfigureAwait(false) is { } session)
                    {
                        await session.RunAsync(transport.ConnectionClosed).ConfigureAwait(false);
                    }
                }
                finally
                {
                    transport.Close();
                }
            }
            catch (Exception exception) when (WebSocketUpgradeMiddleware.IsConnectionGone(exception) || exception is SocketException)
            {
                // The client went away during the handshake: its doing, not an error of the gateway's.
                Log.ConnectionGone(routes.Log, exception.GetType().Name, exception.Message);
                socket.Dispose();
            }
            catch (Exception exception)
            {
                Log.ServeFailed(_log, exception);
                socket.Dispose();
            }
            finally
            {
                if (admitted)
                {
                    routes.Limiter.ReleaseTransport();
                }
            }
        }

        private void HandToKestrel(Socket socket)
        {
            if (_unbound.IsCancellationRequested)
            {
                socket.Dispose();
                return;
            }

            var connection = _kestrel.Create(socket);
            if (!_toKestrel.Writer.TryWrite(connection))
            {
                // Unbound meanwhile.
                _ = connection.DisposeAsync();
            }
        }

        /// <summary>
        /// Waits for the socket's first bytes and reads them without consuming them. When they hold a complete upgrade
        /// head the lean path serves, takes exactly that head off the socket and returns it. Otherwise returns no request,
        /// with nothing consumed, and whether Kestrel should have the connection: not when the client sent nothing within
        /// <see cref="FirstReadTimeout"/> (the lean middleware's own wait for a head), ended the connection without
        /// a byte, or the listener was unbound meanwhile.
        /// </summary>
        private async Task<((UpgradeRequest Request, IDialect Dialect)? Upgrade, bool ForKestrel)> TakeUpgradeHeadAsync(Socket socket, WebSocketUpgradeMiddleware.Routes routes)
        {
            using (var firstRead = CancellationTokenSource.CreateLinkedTokenSource(_unbound.Token))
            {
                firstRead.CancelAfter(FirstReadTimeout);
                try
                {
                    // A zero-byte read: completes when data (or the end) arrives, and holds no buffer meanwhile.
                    await socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, firstRead.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return (null, false);
                }
            }

            var buffer = ArrayPool<byte>.Shared.Rent(UpgradeRequest.MaxHeadBytes);
            try
            {
                // Synchronous reads, possibly on a socket event thread (InlineSocketCompletions): safe only because the
                // zero-byte read above saw data (or the end), so neither this peek nor the reads below ever wait; one
                // that waited there would wait for its own thread.
                var peeked = socket.Receive(buffer, 0, UpgradeRequest.MaxHeadBytes, SocketFlags.Peek);
                if (peeked == 0)
                {
                    return (null, false);
                }

                // TLS (a handshake record) or anything that is not an HTTP/1.1 GET goes to Kestrel as is.
                if (buffer[0] != (byte)'G')
                {
                    return (null, true);
                }

                var bytes = new ReadOnlySequence<byte>(buffer, 0, peeked);
                if (!UpgradeRequest.TryParse(bytes, routes.HeadLimits, out var request, out var headEnd, out _) || routes.LeanDialect(request!) is not { } dialect)
                {
                    return (null, true);
                }

                // The head is in the kernel's buffer already: these reads return at once.
                var length = (int)bytes.Slice(0, headEnd).Length;
                for (var taken = 0; taken < length;)
                {
                    var read = socket.Receive(buffer, taken, length - taken, SocketFlags.None);
                    if (read == 0)
                    {
                        throw new ConnectionResetException("The client closed the connection during its request head.");
                    }

                    taken += read;
                }

                return ((request!, dialect), false);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 820, Level = LogLevel.Debug, Message = "Connection ended during the opening handshake: {ExceptionType}: {Message}")]
        public static partial void ConnectionGone(ILogger logger, string exceptionType, string message);

        [LoggerMessage(EventId = 821, Level = LogLevel.Warning, Message = "Accepting a connection failed")]
        public static partial void AcceptFailed(ILogger logger, Exception exception);

        [LoggerMessage(EventId = 823, Level = LogLevel.Debug, Message = "A connection was reset before it was accepted ({Error})")]
        public static partial void AcceptReset(ILogger logger, SocketError error);

        [LoggerMessage(EventId = 822, Level = LogLevel.Error, Message = "Serving a socket failed")]
        public static partial void ServeFailed(ILogger logger, Exception exception);
    }
}

/// <summary>
/// A lean-path WebSocket on the BCL's sockets (<see cref="LeanListenerFactory"/>): the 101 or a refusal is sent on the
/// socket, and the WebSocket runs over stream pipes: a <see cref="NetworkStream"/>'s reader, which waits with zero-byte
/// reads so that an idle socket holds no buffer, and a <see cref="SocketSendStream"/>'s writer.
/// </summary>
internal sealed class SocketUpgradeTransport(Socket socket) : IUpgradeTransport
{
    private static readonly StreamPipeReaderOptions ReaderOptions = new(bufferSize: 4096, minimumReadSize: 1024, leaveOpen: true, useZeroByteReads: true);
    private static readonly StreamPipeWriterOptions WriterOptions = new(leaveOpen: true);
    private readonly CancellationTokenSource _closed = new();

    /// <summary>
    /// Cancelled when the gateway drops the socket or the session has ended. A client that leaves is seen by reading
    /// (the read loop reads on while it holds back: <see cref="WebSocketConnection"/>), not through this token.
    /// </summary>
    public CancellationToken ConnectionClosed => _closed.Token;

    public bool CanUpgrade => true;

    /// <summary>A stream pipe reads only when asked.</summary>
    public bool ReadsAhead => false;

    public async Task RefuseAsync(int status, string body, params (string Name, string Value)[] headers)
    {
        var reason = Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status);
        await socket.SendAsync(WebSocketHandshake.PlainResponse(status, reason, body, headers), SocketFlags.None).ConfigureAwait(false);
    }

    public async Task<(PipeReader Input, PipeWriter Output)> AcceptAsync(string key, string? subprotocol)
    {
        // The reads stay on a NetworkStream (its constructor wants a blocking socket); the writes go through
        // SocketSendStream, which from here on needs the socket non-blocking.
        var input = new NetworkStream(socket, ownsSocket: false);
        var output = new SocketSendStream(socket);
        await output.WriteAsync(WebSocketHandshake.SwitchingProtocols(key, subprotocol)).ConfigureAwait(false);

        // The socket stays this transport's to close (Close), after both pipes are done with it.
        return (PipeReader.Create(input, ReaderOptions), PipeWriter.Create(output, WriterOptions));
    }

    /// <summary>Drops the TCP connection: pending reads and writes end with an error.</summary>
    public void Abort()
    {
        socket.Dispose();

        // As Kestrel's transport does: whoever waits on the token goes on on the thread pool, not inside this call.
        ThreadPool.UnsafeQueueUserWorkItem(static closed => closed.Cancel(), _closed, preferLocal: false);
    }

    /// <summary>Ends the connection once its session is over: a FIN to the client after anything still unsent.</summary>
    public void Close()
    {
        try
        {
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception exception) when (exception is SocketException or ObjectDisposedException)
        {
            // Already reset or closed.
        }

        socket.Dispose();
        _closed.Cancel();
    }
}

/// <summary>
/// A write-only stream over a socket that sends without blocking first and waits (<see cref="Socket.SendAsync(ReadOnlyMemory{byte}, SocketFlags, CancellationToken)"/>)
/// only for what the kernel's send buffer did not take. A socket's first <c>SendAsync</c> caches an event args object
/// with its callback (about 360 bytes) for the socket's life; a connection whose sends all go out at once (a
/// keep-alive's pong, a message now and then) never creates it (performance.md, "Fifteenth session"). A connection that
/// backs up (a slow reader, a burst) creates it at its first wait. Puts the socket in non-blocking mode. Errors are
/// <see cref="IOException"/>s, as <see cref="NetworkStream"/>'s are: around the <see cref="SocketException"/> of a
/// refused send, or the <see cref="ObjectDisposedException"/> of a socket already closed.
/// </summary>
/// <remarks>
/// One writer at a time, as a pipe's writer is: a write completes only once all its bytes are in the kernel. Writes are
/// asynchronous only (the pipe's <c>CompleteAsync</c>, not <c>Complete</c>).
/// </remarks>
internal sealed class SocketSendStream : Stream
{
    private readonly Socket _socket;

    public SocketSendStream(Socket socket)
    {
        _socket = socket;

        // A synchronous send then answers WouldBlock instead of waiting, which matters here: a write may run on a
        // socket event thread (InlineSocketCompletions), where a send that waited would wait for its own thread.
        socket.Blocking = false;
    }

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        var sent = 0;
        while (sent < buffer.Length)
        {
            int count;
            SocketError error;
            try
            {
                count = _socket.Send(buffer.Span[sent..], SocketFlags.None, out error);
            }
            catch (ObjectDisposedException exception)
            {
                return ValueTask.FromException(WriteFailed(exception));
            }

            if (error == SocketError.WouldBlock || (error == SocketError.Success && count == 0))
            {
                return SendRestAsync(buffer[sent..], cancellationToken);
            }

            if (error != SocketError.Success)
            {
                return ValueTask.FromException(WriteFailed(new SocketException((int)error)));
            }

            sent += count;
        }

        return ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("Writes are asynchronous.");

    public override void Write(ReadOnlySpan<byte> buffer) => throw new NotSupportedException("Writes are asynchronous.");

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    private async ValueTask SendRestAsync(ReadOnlyMemory<byte> rest, CancellationToken cancellationToken)
    {
        try
        {
            while (rest.Length > 0)
            {
                rest = rest[await _socket.SendAsync(rest, SocketFlags.None, cancellationToken).ConfigureAwait(false)..];
            }
        }
        catch (Exception exception) when (exception is SocketException or ObjectDisposedException)
        {
            throw WriteFailed(exception);
        }
    }

    private static IOException WriteFailed(Exception exception) =>
        new($"Unable to write data to the transport connection: {exception.Message}.", exception);
}
