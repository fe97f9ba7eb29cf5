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
/// BCL's sockets, and Kestrel never sees that connection. Every other connection (TLS, the HTTP path, a head that
/// arrives in pieces or past the lean parser's limits) is handed to Kestrel unread, over Kestrel's own socket transport
/// (<see cref="SocketConnectionContextFactory"/>), where the lean path's middleware and the HTTP stack take it as before.
/// </summary>
/// <remarks>
/// Kestrel's transport keeps two pipes, their loops and its connection objects alive for a socket's whole life: about
/// 1.6 KB of an idle WebSocket that a <see cref="NetworkStream"/> with stream pipes does not need (performance.md,
/// "Sockets Kestrel never sees").
/// </remarks>
internal sealed partial class LeanListenerFactory(IOptions<SocketTransportOptions> transport, ILoggerFactory loggers, IServiceProvider services)
    : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    /// <summary>IP endpoints only; Kestrel's socket transport binds the others (Unix domain sockets).</summary>
    public bool CanBind(EndPoint endpoint) => endpoint is IPEndPoint;

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

        socket.Listen(options.Backlog);
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
        return new(new Listener(socket, kestrel, routes, loggers.CreateLogger<LeanListenerFactory>()));
    }

    private sealed class Listener : IConnectionListener
    {
        /// <summary>How long a new connection may take to send its first bytes before Kestrel's own timeouts take over.</summary>
        private static readonly TimeSpan FirstReadTimeout = TimeSpan.FromSeconds(30);

        private readonly Socket _socket;
        private readonly SocketConnectionContextFactory _kestrel;
        private readonly Lazy<WebSocketUpgradeMiddleware.Routes> _routes;
        private readonly ILogger _log;
        private readonly Channel<ConnectionContext> _toKestrel = Channel.CreateUnbounded<ConnectionContext>(new UnboundedChannelOptions { SingleReader = true });

        public Listener(Socket socket, SocketConnectionContextFactory kestrel, Lazy<WebSocketUpgradeMiddleware.Routes> routes, ILogger log)
        {
            _socket = socket;
            _kestrel = kestrel;
            _routes = routes;
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

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
        {
            _socket.Dispose();
            _toKestrel.Writer.TryComplete();
            return default;
        }

        public async ValueTask DisposeAsync()
        {
            await UnbindAsync().ConfigureAwait(false);

            // Handed over after Kestrel stopped accepting: nobody will serve them.
            while (_toKestrel.Reader.TryRead(out var connection))
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }

        private async Task AcceptLoopAsync()
        {
            while (true)
            {
                Socket accepted;
                try
                {
                    accepted = await _socket.AcceptAsync().ConfigureAwait(false);
                }
                catch (Exception exception) when (exception is ObjectDisposedException
                    || exception is SocketException { SocketErrorCode: SocketError.OperationAborted or SocketError.Interrupted or SocketError.InvalidArgument })
                {
                    // Unbound.
                    _toKestrel.Writer.TryComplete();
                    return;
                }
                catch (SocketException exception)
                {
                    // A connection reset before it was accepted, or no descriptor left: the listener goes on.
                    Log.AcceptFailed(_log, exception.SocketErrorCode, exception.Message);
                    if (exception.SocketErrorCode is SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable)
                    {
                        // Not a busy loop while the process is out of descriptors.
                        await Task.Delay(TimeSpan.FromMilliseconds(50)).ConfigureAwait(false);
                    }

                    continue;
                }

                accepted.NoDelay = true;
                _ = ServeAsync(accepted);
            }
        }

        /// <summary>Serves one accepted socket to its end, or hands it to Kestrel. Never throws.</summary>
        private async Task ServeAsync(Socket socket)
        {
            var routes = _routes.Value;

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
                var upgrade = await TakeUpgradeHeadAsync(socket, routes).ConfigureAwait(false);
                if (upgrade is not { } lean)
                {
                    routes.Limiter.ReleaseTransport();
                    admitted = false;
                    HandToKestrel(socket);
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
            if (!_toKestrel.Writer.TryWrite(_kestrel.Create(socket)))
            {
                // Unbound meanwhile.
                socket.Dispose();
            }
        }

        /// <summary>
        /// Waits for the socket's first bytes and reads them without consuming them. When they hold a complete upgrade
        /// head the lean path serves, takes exactly that head off the socket and returns it; otherwise null, with
        /// nothing consumed.
        /// </summary>
        private static async Task<(UpgradeRequest Request, IDialect Dialect)?> TakeUpgradeHeadAsync(Socket socket, WebSocketUpgradeMiddleware.Routes routes)
        {
            using (var firstRead = new CancellationTokenSource(FirstReadTimeout))
            {
                try
                {
                    // A zero-byte read: completes when data (or the end) arrives, and holds no buffer meanwhile.
                    await socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, firstRead.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return null;
                }
            }

            var buffer = ArrayPool<byte>.Shared.Rent(UpgradeRequest.MaxHeadBytes);
            try
            {
                var peeked = socket.Receive(buffer, 0, UpgradeRequest.MaxHeadBytes, SocketFlags.Peek);

                // TLS (a handshake record) or anything that is not an HTTP/1.1 GET goes to Kestrel as is.
                if (peeked == 0 || buffer[0] != (byte)'G')
                {
                    return null;
                }

                var bytes = new ReadOnlySequence<byte>(buffer, 0, peeked);
                if (!UpgradeRequest.TryParse(bytes, routes.HeadLimits, out var request, out var headEnd, out _) || routes.LeanDialect(request!) is not { } dialect)
                {
                    return null;
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

                return (request!, dialect);
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

        [LoggerMessage(EventId = 821, Level = LogLevel.Warning, Message = "Accepting a connection failed ({Error}): {Message}")]
        public static partial void AcceptFailed(ILogger logger, SocketError error, string message);

        [LoggerMessage(EventId = 822, Level = LogLevel.Error, Message = "Serving a socket failed")]
        public static partial void ServeFailed(ILogger logger, Exception exception);
    }
}

/// <summary>
/// A lean-path WebSocket on the BCL's sockets (<see cref="LeanListenerFactory"/>): the 101 or a refusal is sent on the
/// socket, and the WebSocket runs over a <see cref="NetworkStream"/>'s stream pipes, whose reader waits with zero-byte
/// reads so that an idle socket holds no buffer.
/// </summary>
internal sealed class SocketUpgradeTransport(Socket socket) : IUpgradeTransport
{
    private static readonly StreamPipeReaderOptions ReaderOptions = new(bufferSize: 4096, minimumReadSize: 1024, useZeroByteReads: true);
    private readonly CancellationTokenSource _closed = new();

    /// <summary>Cancelled when the gateway drops the socket or the session has ended.</summary>
    public CancellationToken ConnectionClosed => _closed.Token;

    public bool CanUpgrade => true;

    public async Task RefuseAsync(int status, string body, params (string Name, string Value)[] headers)
    {
        var reason = Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status);
        await socket.SendAsync(WebSocketHandshake.PlainResponse(status, reason, body, headers), SocketFlags.None).ConfigureAwait(false);
    }

    public async Task<(PipeReader Input, PipeWriter Output)> AcceptAsync(string key, string? subprotocol)
    {
        await socket.SendAsync(WebSocketHandshake.SwitchingProtocols(key, subprotocol), SocketFlags.None).ConfigureAwait(false);
        var stream = new NetworkStream(socket, ownsSocket: true);
        return (PipeReader.Create(stream, ReaderOptions), PipeWriter.Create(stream));
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
