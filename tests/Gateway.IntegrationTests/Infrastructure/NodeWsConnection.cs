using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>One npm <c>ws</c> client of a <see cref="NodeWsHarness"/>: the same receive/close API as <see cref="WsClient"/>.</summary>
public sealed class NodeWsConnection
{
    private readonly NodeWsHarness _harness;
    private readonly Channel<WsMessage> _messages = Channel.CreateUnbounded<WsMessage>();
    private readonly TaskCompletionSource<string> _opened = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<WsClose> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentDictionary<int, TaskCompletionSource<string?>> _sends = new();
    private readonly ConcurrentQueue<string> _errors = new();
    private int _nextSeq;
    private int _pongs;

    internal NodeWsConnection(NodeWsHarness harness, string id)
    {
        _harness = harness;
        Id = id;
    }

    /// <summary>The harness's name for this client.</summary>
    public string Id { get; }

    /// <summary>The subprotocol the server selected ("" for none).</summary>
    public string? Protocol { get; private set; }

    /// <summary>The close ws reported: the server's code and reason (1006 when the connection was lost).</summary>
    public Task<WsClose> Closed => _closed.Task;

    /// <summary>The error messages ws reported, in order.</summary>
    public IReadOnlyCollection<string> Errors => _errors;

    public Task SendTextAsync(string text) => SendAsync(new JsonObject { ["text"] = text });

    public Task SendBinaryAsync(byte[] data) => SendAsync(new JsonObject { ["binary"] = Convert.ToBase64String(data) });

    /// <summary>Starts the close handshake with <paramref name="code"/> and <paramref name="reason"/>; await <see cref="Closed"/> for its end.</summary>
    public Task CloseAsync(int code = 1000, string reason = "") =>
        _harness.SendCommandAsync(new JsonObject { ["op"] = "close", ["id"] = Id, ["code"] = code, ["reason"] = reason });

    /// <summary>Sends <paramref name="text"/> and starts the close handshake in the same tick (<c>ws.send(text); ws.close(code)</c>).</summary>
    public Task SendTextThenCloseAsync(string text, int code = 1000, string reason = "") =>
        _harness.SendCommandAsync(new JsonObject { ["op"] = "send-close", ["id"] = Id, ["text"] = text, ["code"] = code, ["reason"] = reason });

    /// <summary>Sends a WebSocket protocol ping (opcode 9); the server's pong is counted in <see cref="Pongs"/>.</summary>
    public Task PingAsync() => _harness.SendCommandAsync(new JsonObject { ["op"] = "ping", ["id"] = Id });

    /// <summary>Protocol pongs received so far.</summary>
    public int Pongs => Volatile.Read(ref _pongs);

    /// <summary>Waits until at least <paramref name="count"/> protocol pongs have arrived.</summary>
    public Task WaitForPongAsync(int count, TimeSpan? timeout = null) =>
        Wait.UntilAsync(() => Pongs >= count, timeout, $"ws client {Id} to receive {count} protocol pongs");

    /// <summary>Destroys the TCP connection with no close frame.</summary>
    public Task TerminateAsync() => _harness.SendCommandAsync(new JsonObject { ["op"] = "terminate", ["id"] = Id });

    /// <summary>The next message; <see cref="TimeoutException"/> if none comes.</summary>
    public Task<WsMessage> ReceiveAsync(TimeSpan? timeout = null) => MessageInbox.ReceiveAsync(_messages.Reader, Closed, $"ws client {Id}", timeout);

    /// <summary>Asserts that no message arrives within <paramref name="window"/> (default <see cref="TestTimeouts.Quiet"/>).</summary>
    public Task AssertNoMessageAsync(TimeSpan? window = null) => MessageInbox.AssertNoMessageAsync(t => ReceiveAsync(t), window);

    public Task<WsClose> WaitForCloseAsync(TimeSpan? timeout = null) => Wait.ForAsync(Closed, timeout, $"ws client {Id} to close");

    internal async Task WaitForOpenAsync(TimeSpan timeout)
    {
        var outcome = await Task.WhenAny(_opened.Task, _closed.Task).WaitAsync(timeout).ConfigureAwait(false);
        if (outcome != _opened.Task)
        {
            throw new WebSocketException($"ws client {Id} could not connect: {string.Join("; ", _errors)} ({_closed.Task.Result})");
        }
    }

    internal void OnEvent(string kind, JsonElement root)
    {
        switch (kind)
        {
            case "open":
                Protocol = root.GetProperty("protocol").GetString();
                _opened.TrySetResult(Protocol ?? string.Empty);
                break;
            case "message":
                var data = root.GetProperty("data").GetString()!;
                var message = root.GetProperty("type").GetString() == "binary"
                    ? new WsMessage(WebSocketMessageType.Binary, Convert.FromBase64String(data))
                    : new WsMessage(WebSocketMessageType.Text, Encoding.UTF8.GetBytes(data));
                _messages.Writer.TryWrite(message);
                break;
            case "pong":
                Interlocked.Increment(ref _pongs);
                break;
            case "sent":
                if (_sends.TryRemove(root.GetProperty("seq").GetInt32(), out var send))
                {
                    send.TrySetResult(root.GetProperty("error").GetString());
                }

                break;
            case "error":
                _errors.Enqueue(root.GetProperty("message").GetString() ?? string.Empty);
                if (root.TryGetProperty("seq", out var failedSeq) && failedSeq.ValueKind == JsonValueKind.Number && _sends.TryRemove(failedSeq.GetInt32(), out var failed))
                {
                    failed.TrySetResult(root.GetProperty("message").GetString());
                }

                break;
            case "close":
                var code = root.GetProperty("code").GetInt32();
                _closed.TrySetResult(new WsClose(code, root.GetProperty("reason").GetString() ?? string.Empty, FrameReceived: code != WsClose.Abnormal));
                _messages.Writer.TryComplete();
                break;
        }
    }

    private async Task SendAsync(JsonObject command)
    {
        var seq = Interlocked.Increment(ref _nextSeq);
        var done = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        _sends[seq] = done;
        command["op"] = "send";
        command["id"] = Id;
        command["seq"] = seq;
        await _harness.SendCommandAsync(command).ConfigureAwait(false);
        var error = await Wait.ForAsync(done.Task, TestTimeouts.Default, $"ws client {Id} to send").ConfigureAwait(false);
        if (error is not null)
        {
            throw new WebSocketException($"ws client {Id}: send failed: {error}");
        }
    }
}
