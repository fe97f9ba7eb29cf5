using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Soak;

/// <summary>The client endpoint a soak client speaks.</summary>
public enum SoakDialect
{
    /// <summary><c>/ws</c>: numbered messages as frames, JSON pings.</summary>
    Tapr,

    /// <summary><c>/websocket</c>: numbered messages as walker events; liveness by protocol pongs.</summary>
    Jac,
}

/// <summary>Every way a soak socket ends (PROTOCOL.md §6 gives the code the client must see).</summary>
public enum SoakEnding
{
    /// <summary>The client closes with 1000 and must see 1000 back; the app must get everything it sent.</summary>
    Clean,

    /// <summary>The client's TCP connection is reset (linger 0), no close frame.</summary>
    Reset,

    /// <summary>The client stops reading while the app pushes large payloads to it: 4001.</summary>
    SlowConsumer,

    /// <summary>The client sends a message over the size limit: 1009.</summary>
    Oversized,

    /// <summary>The app closes it through admin <c>close</c>: 1000.</summary>
    AdminClose,

    /// <summary>The client goes silent (no TAPR ping; jac: no pong): 4000.</summary>
    Silent,

    /// <summary>Still open when the gateway gets SIGTERM: 1001.</summary>
    OpenAtShutdown,
}

/// <summary>
/// One soak socket: connects, learns its connection id from the gateway's first frame, sends numbered messages
/// (<c>{"seq":N,"c":"&lt;key&gt;"}</c>) and, on TAPR, JSON pings at its own pace, then ends the way
/// <see cref="Ending"/> says. What it sent and saw is kept for the invariants.
/// </summary>
public sealed class SoakClient
{
    private static readonly byte[] Ping = "{\"event\":\"ping\"}"u8.ToArray();
    private readonly TaskCompletionSource _identified = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource? _resume;
    private ClientWebSocket? _socket;
    private Socket? _tcp;
    private int _pongs;
    private long _pushBytes;

    public SoakClient(string key, SoakDialect dialect, SoakEnding ending, string user, string? channel, TimeSpan lifetime, TimeSpan messageInterval, bool pingRightBeforeClose)
    {
        Key = key;
        Dialect = dialect;
        Ending = ending;
        User = user;
        Channel = channel;
        Lifetime = lifetime;
        MessageInterval = messageInterval;
        PingRightBeforeClose = pingRightBeforeClose;
    }

    public string Key { get; }

    public SoakDialect Dialect { get; }

    public SoakEnding Ending { get; }

    /// <summary>TAPR: the <c>X-Bfl-User</c> header; jac: the root id (<c>n::&lt;hex&gt;</c>), which is the callbacks' <c>user_name</c>.</summary>
    public string User { get; }

    /// <summary>jac: the channel it joins.</summary>
    public string? Channel { get; }

    public TimeSpan Lifetime { get; }

    public TimeSpan MessageInterval { get; }

    /// <summary>Clean closes: a ping sent immediately before the close frame (else the client waits for its pongs first).</summary>
    public bool PingRightBeforeClose { get; }

    /// <summary>Its connection id, from the TAPR hello or the jac connection event.</summary>
    public string? ConnId { get; private set; }

    /// <summary>Messages whose send completed: seq 1..Sent.</summary>
    public int Sent { get; private set; }

    /// <summary>A send that threw: that message may or may not have reached the gateway.</summary>
    public bool SendFailed { get; private set; }

    public int PingsSent { get; private set; }

    public int PongsReceived => Volatile.Read(ref _pongs);

    public long PushBytesReceived => Interlocked.Read(ref _pushBytes);

    /// <summary>The close code the server's close frame carried; null when none arrived.</summary>
    public int? CloseCode { get; private set; }

    public string? CloseReason { get; private set; }

    /// <summary>How the receiving ended when it was not a close frame.</summary>
    public string? ReceiveError { get; private set; }

    /// <summary>Something the client could not do (connect, learn its id, see its close in time).</summary>
    public string? Failure { get; private set; }

    public bool Finished { get; private set; }

    /// <summary>When the last frame (message or ping) was handed to the socket.</summary>
    public DateTime LastSendAt { get; private set; }

    /// <summary>When the server's close frame arrived.</summary>
    public DateTime ClosedAt { get; private set; }

    /// <summary>Runs the client's whole life; never throws (what went wrong is in <see cref="Failure"/>).</summary>
    public async Task RunAsync(SoakDriver driver, CancellationToken shutdown)
    {
        try
        {
            if (Dialect == SoakDialect.Jac && Ending == SoakEnding.Silent)
            {
                await RunSilentJacAsync(driver).ConfigureAwait(false);
            }
            else
            {
                await RunWebSocketAsync(driver, shutdown).ConfigureAwait(false);
            }
        }
        catch (Exception exception)
        {
            Failure ??= $"{exception.GetType().Name}: {exception.Message}";
        }
        finally
        {
            _socket?.Dispose();
            _tcp?.Dispose();
            Finished = true;
        }
    }

    public override string ToString() => string.Create(
        System.Globalization.CultureInfo.InvariantCulture,
        $"{Key} ({Dialect}, {Ending}, conn {ConnId ?? "?"}, sent {Sent}{(SendFailed ? "+1?" : string.Empty)}, pings {PingsSent}, pongs {PongsReceived}, close {CloseCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"} \"{CloseReason}\"{(CloseCode is null || LastSendAt == default ? string.Empty : $" {(ClosedAt - LastSendAt).TotalMilliseconds:0} ms after its last frame")}{(ReceiveError is null ? string.Empty : ", " + ReceiveError)})");

    private async Task RunWebSocketAsync(SoakDriver driver, CancellationToken shutdown)
    {
        _socket = new ClientWebSocket();
        _socket.Options.KeepAliveInterval = TimeSpan.Zero;
        Uri uri;
        if (Dialect == SoakDialect.Tapr)
        {
            _socket.Options.SetRequestHeader("X-Bfl-User", User);
            uri = driver.Gateway.WebSocketUri("/ws");
        }
        else
        {
            uri = new Uri(driver.Gateway.WebSocketUri("/websocket") + $"?auth={driver.TokenFor(User)}&channel_id={Channel}");
        }

        using var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            ConnectCallback = async (context, token) =>
            {
                var tcp = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                _tcp = tcp;
                await tcp.ConnectAsync(context.DnsEndPoint, token).ConfigureAwait(false);
                return new NetworkStream(tcp, ownsSocket: true);
            },
        };
        using var invoker = new HttpMessageInvoker(handler);
        using (var connect = new CancellationTokenSource(TestTimeouts.Default))
        {
            try
            {
                await _socket.ConnectAsync(uri, invoker, connect.Token).ConfigureAwait(false);
            }
            catch (Exception exception)
            {
                Failure = $"connect failed: {exception.Message}";
                return;
            }
        }

        var receiving = Task.Run(ReceiveLoopAsync);
        if (await Task.WhenAny(_identified.Task, Task.Delay(TestTimeouts.Default)).ConfigureAwait(false) != _identified.Task)
        {
            Failure = "no hello/connection event with the connection id";
            _socket.Abort();
            await receiving.ConfigureAwait(false);
            return;
        }

        var until = DateTime.UtcNow + Lifetime;
        var nextPing = DateTime.UtcNow;
        var sendUntilClosed = Ending is SoakEnding.AdminClose or SoakEnding.OpenAtShutdown;
        Task? closing = null;
        while (!receiving.IsCompleted && !SendFailed)
        {
            if (Ending != SoakEnding.OpenAtShutdown && DateTime.UtcNow >= until)
            {
                if (!sendUntilClosed)
                {
                    break;
                }

                closing ??= driver.CloseThroughAdminAsync(this);
            }

            if (shutdown.IsCancellationRequested && Ending != SoakEnding.OpenAtShutdown)
            {
                break;
            }

            await SendMessageAsync().ConfigureAwait(false);
            if (Dialect == SoakDialect.Tapr && DateTime.UtcNow >= nextPing)
            {
                await SendPingAsync().ConfigureAwait(false);
                nextPing = DateTime.UtcNow + TimeSpan.FromSeconds(1);
            }

            // Pacing, not synchronisation: a client that sends at its own rate.
            await Task.WhenAny(receiving, Task.Delay(MessageInterval)).ConfigureAwait(false);
        }

        switch (Ending)
        {
            case SoakEnding.Clean:
                await CloseCleanlyAsync(receiving).ConfigureAwait(false);
                break;
            case SoakEnding.Reset:
                Reset();
                break;
            case SoakEnding.SlowConsumer:
                await StallWhileFloodedAsync(driver, receiving).ConfigureAwait(false);
                break;
            case SoakEnding.Oversized:
                await SendOversizedAsync(driver).ConfigureAwait(false);
                break;
            case SoakEnding.Silent:
                // Nothing more is sent; the reader keeps reading (and, on jac, would answer pings: jac silence is RunSilentJacAsync).
                break;
            case SoakEnding.AdminClose:
            case SoakEnding.OpenAtShutdown:
                break;
        }

        if (await Task.WhenAny(receiving, Task.Delay(TestTimeouts.Long)).ConfigureAwait(false) != receiving)
        {
            Failure ??= $"no close within {TestTimeouts.Long} after its ending ({Ending})";
            _socket.Abort();
        }

        await receiving.ConfigureAwait(false);
        if (closing is not null)
        {
            await closing.ConfigureAwait(false);
        }

        if (CloseCode is not null && _socket.State == WebSocketState.CloseReceived)
        {
            // Complete the close handshake the server started.
            try
            {
                using var cancel = new CancellationTokenSource(TestTimeouts.Default);
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, cancel.Token).ConfigureAwait(false);
            }
            catch (Exception exception) when (exception is WebSocketException or OperationCanceledException or ObjectDisposedException)
            {
                // The server did not wait: its close was already counted.
            }
        }
    }

    private async Task CloseCleanlyAsync(Task receiving)
    {
        if (Dialect == SoakDialect.Tapr)
        {
            await SendPingAsync().ConfigureAwait(false);
            if (!PingRightBeforeClose)
            {
                // The pongs are the condition; their absence is reported by the invariant, so only bounded here.
                await Wait.UntilAsync(() => PongsReceived >= PingsSent || receiving.IsCompleted, TestTimeouts.Default, "pongs")
                    .ContinueWith(static _ => { }, TaskScheduler.Default).ConfigureAwait(false);
            }
        }

        try
        {
            using var cancel = new CancellationTokenSource(TestTimeouts.Default);
            await _socket!.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", cancel.Token).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is WebSocketException or OperationCanceledException)
        {
            Failure ??= $"clean close failed: {exception.Message}";
        }
    }

    private void Reset()
    {
        // Linger 0: close sends RST, not FIN, and certainly no close frame.
        if (_tcp is { } tcp)
        {
            tcp.LingerState = new LingerOption(true, 0);
            tcp.Close();
        }

        _socket!.Abort();
    }

    private async Task StallWhileFloodedAsync(SoakDriver driver, Task receiving)
    {
        var resume = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _resume, resume);
        var flood = driver.FloodAsync(this);

        // Still alive for the ping deadline while not reading (TAPR counts any frame; jac is never stalled).
        while (!flood.IsCompleted && !receiving.IsCompleted && !SendFailed)
        {
            await SendPingAsync().ConfigureAwait(false);
            await Task.WhenAny(flood, Task.Delay(500)).ConfigureAwait(false);
        }

        await flood.ConfigureAwait(false);
        Volatile.Write(ref _resume, null);
        resume.TrySetResult();
    }

    private async Task SendOversizedAsync(SoakDriver driver)
    {
        var padding = new string('x', driver.MaxMessageBytes + 1);
        var text = Dialect == SoakDialect.Tapr
            ? $"{{\"seq\":-1,\"c\":\"{Key}\",\"pad\":\"{padding}\"}}"
            : $"{{\"type\":\"walker\",\"walker\":\"soak\",\"node\":null,\"response\":false,\"context\":{{\"seq\":-1,\"c\":\"{Key}\",\"pad\":\"{padding}\"}}}}";
        await SendAsync(Encoding.UTF8.GetBytes(text), counts: false).ConfigureAwait(false);
    }

    private Task SendMessageAsync()
    {
        var seq = Sent + 1;
        var text = Dialect == SoakDialect.Tapr
            ? $"{{\"seq\":{seq},\"c\":\"{Key}\"}}"
            : $"{{\"type\":\"walker\",\"walker\":\"soak\",\"node\":null,\"response\":false,\"context\":{{\"seq\":{seq},\"c\":\"{Key}\"}}}}";
        return SendAsync(Encoding.UTF8.GetBytes(text), counts: true);
    }

    private async Task SendPingAsync()
    {
        if (await SendAsync(Ping, counts: false).ConfigureAwait(false))
        {
            PingsSent++;
        }
    }

    private async Task<bool> SendAsync(byte[] bytes, bool counts)
    {
        if (SendFailed)
        {
            return false;
        }

        try
        {
            using var cancel = new CancellationTokenSource(TestTimeouts.Default);
            await _socket!.SendAsync(bytes, WebSocketMessageType.Text, true, cancel.Token).ConfigureAwait(false);
            if (counts)
            {
                Sent++;
            }

            LastSendAt = DateTime.UtcNow;
            return true;
        }
        catch (Exception exception) when (exception is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            SendFailed = counts;
            return false;
        }
    }

    private async Task ReceiveLoopAsync()
    {
        var buffer = new byte[16 * 1024];
        var message = new MemoryStream();
        try
        {
            while (true)
            {
                if (Volatile.Read(ref _resume) is { } resume)
                {
                    await resume.Task.ConfigureAwait(false);
                }

                var result = await _socket!.ReceiveAsync(buffer.AsMemory(), CancellationToken.None).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    ClosedAt = DateTime.UtcNow;
                    CloseCode = (int?)_socket.CloseStatus;
                    CloseReason = _socket.CloseStatusDescription;
                    return;
                }

                if (message.Length < 1024)
                {
                    message.Write(buffer, 0, Math.Min(result.Count, 1024));
                }

                Interlocked.Add(ref _pushBytes, result.Count);
                if (result.EndOfMessage)
                {
                    OnMessage(message.GetBuffer().AsSpan(0, (int)message.Length));
                    message.SetLength(0);
                }
            }
        }
        catch (Exception exception) when (exception is WebSocketException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            ReceiveError = exception.Message;
        }
    }

    private void OnMessage(ReadOnlySpan<byte> frame)
    {
        if (frame.SequenceEqual("{\"event\":\"pong\"}"u8))
        {
            Interlocked.Increment(ref _pongs);
            return;
        }

        if (ConnId is null && (frame.StartsWith("{\"event\":\"connected\""u8) || frame.StartsWith("{\"type\":\"connection\""u8)))
        {
            using var document = JsonDocument.Parse(frame.ToArray());
            var data = document.RootElement.GetProperty("data");
            ConnId = data.TryGetProperty("conn_id", out var id) ? id.GetString() : data.GetProperty("client_id").GetString();
            _identified.TrySetResult();
        }
    }

    /// <summary>A jac client that never answers the gateway's protocol pings (raw frames): after a few messages it only reads, until the keep-alive close.</summary>
    private async Task RunSilentJacAsync(SoakDriver driver)
    {
        await using var raw = await RawWebSocket.ConnectAsync(driver.Gateway.Port, $"/websocket?auth={driver.TokenFor(User)}&channel_id={Channel}").ConfigureAwait(false);
        var first = await raw.ReadFrameAsync().ConfigureAwait(false);
        using (var document = JsonDocument.Parse(first.Payload))
        {
            ConnId = document.RootElement.GetProperty("data").GetProperty("client_id").GetString();
        }

        for (var i = 0; i < 5; i++)
        {
            var seq = Sent + 1;
            try
            {
                await raw.SendAsync(RawWebSocket.TextFrame($"{{\"type\":\"walker\",\"walker\":\"soak\",\"node\":null,\"response\":false,\"context\":{{\"seq\":{seq},\"c\":\"{Key}\"}}}}")).ConfigureAwait(false);
                Sent++;
                LastSendAt = DateTime.UtcNow;
            }
            catch (IOException)
            {
                SendFailed = true;
                break;
            }

            await Task.Delay(MessageInterval).ConfigureAwait(false);
        }

        try
        {
            var close = await raw.ReadUntilCloseAsync(TestTimeouts.Long).ConfigureAwait(false);
            ClosedAt = DateTime.UtcNow;
            CloseCode = close.CloseCode;
            CloseReason = close.Text;
            await raw.SendAsync(RawWebSocket.CloseFrame(1000)).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is IOException or TimeoutException or EndOfStreamException)
        {
            ReceiveError = exception.Message;
        }
    }
}
