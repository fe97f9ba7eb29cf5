using System.Net.WebSockets;
using System.Text;
using System.Threading.Channels;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>
/// A <see cref="ClientWebSocket"/> with a background reader: messages land in a queue that tests
/// take from with a timeout (a cancelled <c>ReceiveAsync</c> would abort the socket), and the close
/// the server sent is kept in <see cref="Closed"/>. <c>receive: false</c> makes a client that never
/// reads, until <see cref="StartReceiving"/>.
/// </summary>
public sealed class WsClient : IAsyncDisposable
{
    private readonly Channel<WsMessage> _messages = Channel.CreateUnbounded<WsMessage>();
    private readonly TaskCompletionSource<WsClose> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _disposing = new();
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private Task? _reader;

    private WsClient(ClientWebSocket socket)
    {
        Socket = socket;
    }

    /// <summary>The underlying socket.</summary>
    public ClientWebSocket Socket { get; }

    /// <summary>The subprotocol the server selected, if any.</summary>
    public string? SubProtocol => Socket.SubProtocol;

    /// <summary>Completes when the server's close frame arrives (code, reason) or the connection is lost (1006).</summary>
    public Task<WsClose> Closed => _closed.Task;

    /// <summary>How the socket ended, or null while it is open.</summary>
    public WsClose? CloseIfEnded => _closed.Task.IsCompletedSuccessfully ? _closed.Task.Result : null;

    /// <summary>
    /// Connects to <paramref name="uri"/>. <paramref name="user"/> goes in <c>X-Bfl-User</c>, <paramref name="cookie"/>
    /// in <c>Cookie</c>, <paramref name="userAgent"/> in <c>User-Agent</c> (each omitted when null); protocol keep-alive
    /// pings are off so that a silent client is really silent.
    /// </summary>
    public static async Task<WsClient> ConnectAsync(
        Uri uri,
        string? user = null,
        string? cookie = null,
        string? userAgent = null,
        IEnumerable<string>? subprotocols = null,
        IReadOnlyDictionary<string, string>? headers = null,
        bool receive = true,
        Action<ClientWebSocketOptions>? configure = null,
        TimeSpan? timeout = null)
    {
        var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        if (user is not null)
        {
            socket.Options.SetRequestHeader("X-Bfl-User", user);
        }

        if (cookie is not null)
        {
            socket.Options.SetRequestHeader("Cookie", cookie);
        }

        if (userAgent is not null)
        {
            socket.Options.SetRequestHeader("User-Agent", userAgent);
        }

        foreach (var (name, value) in headers ?? new Dictionary<string, string>())
        {
            socket.Options.SetRequestHeader(name, value);
        }

        foreach (var protocol in subprotocols ?? [])
        {
            socket.Options.AddSubProtocol(protocol);
        }

        configure?.Invoke(socket.Options);
        using var cancel = new CancellationTokenSource(timeout ?? TestTimeouts.Default);
        try
        {
            await socket.ConnectAsync(uri, cancel.Token).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var client = new WsClient(socket);
        if (receive)
        {
            client.StartReceiving();
        }

        return client;
    }

    /// <summary>Starts the background reader (once).</summary>
    public void StartReceiving() => _reader ??= Task.Run(ReadLoopAsync);

    public Task SendTextAsync(string text) => SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text);

    public Task SendBinaryAsync(byte[] data) => SendAsync(data, WebSocketMessageType.Binary);

    /// <summary>Sends one whole message (one frame).</summary>
    public async Task SendAsync(ReadOnlyMemory<byte> data, WebSocketMessageType type, bool endOfMessage = true)
    {
        await _sendLock.WaitAsync().ConfigureAwait(false);
        try
        {
            using var cancel = new CancellationTokenSource(TestTimeouts.Default);
            await Socket.SendAsync(data, type, endOfMessage, cancel.Token).ConfigureAwait(false);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>The next message; a <see cref="TimeoutException"/> if none comes, an <see cref="InvalidOperationException"/> if the socket closes first.</summary>
    public Task<WsMessage> ReceiveAsync(TimeSpan? timeout = null) => MessageInbox.ReceiveAsync(_messages.Reader, Closed, "the socket", timeout);

    /// <summary>The next message, which must be text; returns its text.</summary>
    public async Task<string> ReceiveTextAsync(TimeSpan? timeout = null)
    {
        var message = await ReceiveAsync(timeout).ConfigureAwait(false);
        Assert.True(message.IsText, $"Expected a text message, got {message}");
        return message.Text;
    }

    /// <summary>Asserts that no message arrives within <paramref name="window"/> (default <see cref="TestTimeouts.Quiet"/>).</summary>
    public Task AssertNoMessageAsync(TimeSpan? window = null) => MessageInbox.AssertNoMessageAsync(t => ReceiveAsync(t), window);

    /// <summary>Waits for the socket to end and returns how (messages still queued are left for <see cref="ReceiveAsync"/>).</summary>
    public Task<WsClose> WaitForCloseAsync(TimeSpan? timeout = null) => Wait.ForAsync(Closed, timeout, "the socket to close");

    /// <summary>Starts the close handshake from the client side and waits for the server's answer.</summary>
    public async Task<WsClose> CloseAsync(WebSocketCloseStatus status = WebSocketCloseStatus.NormalClosure, string reason = "")
    {
        await _sendLock.WaitAsync().ConfigureAwait(false);
        try
        {
            using var cancel = new CancellationTokenSource(TestTimeouts.Default);
            if (Socket.State == WebSocketState.Open)
            {
                await Socket.CloseOutputAsync(status, reason, cancel.Token).ConfigureAwait(false);
            }
        }
        finally
        {
            _sendLock.Release();
        }

        StartReceiving();
        return await WaitForCloseAsync().ConfigureAwait(false);
    }

    /// <summary>Drops the TCP connection with no close frame, as a client that vanishes does.</summary>
    public void Abort() => Socket.Abort();

    public async ValueTask DisposeAsync()
    {
        await _disposing.CancelAsync().ConfigureAwait(false);
        Socket.Abort();
        if (_reader is not null)
        {
            await _reader.ConfigureAwait(false);
        }

        Socket.Dispose();
        _disposing.Dispose();
        _sendLock.Dispose();
    }

    private async Task ReadLoopAsync()
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                using var message = new MemoryStream();
                ValueWebSocketReceiveResult result;
                do
                {
                    result = await Socket.ReceiveAsync(buffer.AsMemory(), _disposing.Token).ConfigureAwait(false);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        var close = new WsClose((int)(Socket.CloseStatus ?? WebSocketCloseStatus.Empty), Socket.CloseStatusDescription ?? string.Empty, FrameReceived: true);
                        _closed.TrySetResult(close);
                        await CompleteCloseHandshakeAsync().ConfigureAwait(false);
                        return;
                    }

                    message.Write(buffer, 0, result.Count);
                }
                while (!result.EndOfMessage);

                await _messages.Writer.WriteAsync(new WsMessage(result.MessageType, message.ToArray())).ConfigureAwait(false);
            }
        }
        catch (Exception exception) when (exception is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            _closed.TrySetResult(new WsClose(WsClose.Abnormal, exception.Message, FrameReceived: false));
        }
        finally
        {
            _messages.Writer.TryComplete();
        }
    }

    private async Task CompleteCloseHandshakeAsync()
    {
        // Echo the close, as a well-behaved client does, unless this side started it.
        await _sendLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (Socket.State == WebSocketState.CloseReceived)
            {
                using var cancel = new CancellationTokenSource(TestTimeouts.Default);
                var status = Socket.CloseStatus ?? WebSocketCloseStatus.Empty;
                await Socket.CloseOutputAsync(status, status == WebSocketCloseStatus.Empty ? null : Socket.CloseStatusDescription, cancel.Token).ConfigureAwait(false);
            }
        }
        catch (Exception exception) when (exception is WebSocketException or OperationCanceledException or IOException)
        {
            // The server dropped the connection after its close frame: the close is still what it sent.
        }
        finally
        {
            _sendLock.Release();
        }
    }
}
