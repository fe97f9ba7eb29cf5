using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Gateway.Benchmarks.App;

/// <summary>
/// The <c>app</c> mode: the app behind the gateway, a Kestrel server answering its callbacks at
/// <c>POST /callback</c>. In <c>record</c> mode it counts them; in <c>echo</c> mode it also sends every
/// message's <c>data</c> back to its connection through the admin API (<c>conn_id</c>) before answering,
/// so the gateway's per-connection callback order carries over to the echoes. It prints
/// <c>{"type":"ready","port":P}</c> once listening, takes <c>{"cmd":"gateway","url":"..."}</c> on stdin,
/// serves its counters at <c>GET /stats</c>, and exits when stdin closes.
/// </summary>
internal static class CallbackApp
{
    private static readonly byte[] SendPrefix = "{\"conn_id\":\""u8.ToArray();
    private static readonly byte[] SendMiddle = "\",\"payload\":"u8.ToArray();
    private static readonly byte[] Enqueued = "\"enqueued\":1"u8.ToArray();
    private static readonly Uri SendPath = new("/tapr/ws/conn/send", UriKind.Relative);

    public static async Task<int> RunAsync(BenchmarkOptions options)
    {
        var echo = options.String("mode", "record") == "echo";
        var state = new AppState();
        // No routing: GET /stats, and every POST is a callback (the gateway posts to /callback).
        var (app, address) = await LoopbackKestrel.StartAsync(options.Int("port", 0), context => HttpMethods.IsGet(context.Request.Method)
            ? context.Response.WriteAsJsonAsync(state.Snapshot())
            : HandleAsync(context, state, echo)).ConfigureAwait(false);
        await using var _ = app;
        var port = address.Port;
        await Console.Out.WriteLineAsync(FormattableString.Invariant($"{{\"type\":\"ready\",\"port\":{port}}}")).ConfigureAwait(false);
        await Console.Out.FlushAsync().ConfigureAwait(false);

        var maxConnections = options.Int("max-connections", 512);
        var input = await Task.Run(() =>
        {
            while (Console.In.ReadLine() is { } line)
            {
                using var command = JsonDocument.Parse(line);
                if (command.RootElement.GetProperty("cmd").GetString() == "gateway")
                {
                    state.Gateway = new HttpClient(new SocketsHttpHandler
                    {
                        UseProxy = false,
                        UseCookies = false,
                        MaxConnectionsPerServer = maxConnections,
                        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
                        ActivityHeadersPropagator = null,
                    })
                    {
                        BaseAddress = new Uri(command.RootElement.GetProperty("url").GetString()!),
                        Timeout = TimeSpan.FromSeconds(30),
                    };
                }
            }

            return 0;
        }).ConfigureAwait(false);

        await app.StopAsync().ConfigureAwait(false);
        state.Gateway?.Dispose();
        return input;
    }

    private static async Task HandleAsync(HttpContext context, AppState state, bool echo)
    {
        var reader = context.Request.BodyReader;
        ReadResult result;
        while (true)
        {
            result = await reader.ReadAsync().ConfigureAwait(false);
            if (result.IsCompleted)
            {
                break;
            }

            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }

        var body = result.Buffer;
        var (action, connId, dataStart, dataLength) = Parse(body);
        byte[]? send = null;
        switch (action)
        {
            case "open":
                Interlocked.Increment(ref state.Open);
                break;
            case "close":
                Interlocked.Increment(ref state.Close);
                break;
            case "message":
                Interlocked.Increment(ref state.Message);
                if (echo && connId is not null && dataLength > 0)
                {
                    send = new byte[SendPrefix.Length + connId.Length + SendMiddle.Length + (int)dataLength + 1];
                    var span = send.AsSpan();
                    SendPrefix.CopyTo(span);
                    var at = SendPrefix.Length;
                    at += Encoding.UTF8.GetBytes(connId, span[at..]);
                    SendMiddle.CopyTo(span[at..]);
                    at += SendMiddle.Length;
                    body.Slice(dataStart, dataLength).CopyTo(span[at..]);
                    span[^1] = (byte)'}';
                }

                break;
            default:
                Interlocked.Increment(ref state.Unparsed);
                break;
        }

        reader.AdvanceTo(body.End);
        if (send is not null)
        {
            await EchoAsync(state, send).ConfigureAwait(false);
        }
    }

    private static async Task EchoAsync(AppState state, byte[] send)
    {
        var gateway = state.Gateway;
        if (gateway is null)
        {
            Interlocked.Increment(ref state.EchoFailed);
            return;
        }

        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, SendPath) { Content = new ByteArrayContent(send) };
            using var response = await gateway.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false);
            var reply = ArrayPool<byte>.Shared.Rent(256);
            var length = 0;
            await using (var stream = await response.Content.ReadAsStreamAsync().ConfigureAwait(false))
            {
                int read;
                while (length < reply.Length && (read = await stream.ReadAsync(reply.AsMemory(length)).ConfigureAwait(false)) > 0)
                {
                    length += read;
                }
            }

            var enqueued = reply.AsSpan(0, length).IndexOf(Enqueued) >= 0;
            ArrayPool<byte>.Shared.Return(reply);
            if (response.IsSuccessStatusCode && enqueued)
            {
                Interlocked.Increment(ref state.Echoed);
            }
            else
            {
                Interlocked.Increment(ref state.NotEnqueued);
            }
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
        {
            Interlocked.Increment(ref state.EchoFailed);
        }
    }

    /// <summary>The action, conn_id, and where the raw <c>data</c> value lies in the callback body.</summary>
    private static (string? Action, string? ConnId, long DataStart, long DataLength) Parse(ReadOnlySequence<byte> body)
    {
        string? action = null;
        string? connId = null;
        long dataStart = 0;
        long dataLength = 0;
        try
        {
            var json = new Utf8JsonReader(body);
            if (!json.Read() || json.TokenType != JsonTokenType.StartObject)
            {
                return (null, null, 0, 0);
            }

            while (json.Read() && json.TokenType == JsonTokenType.PropertyName)
            {
                if (json.ValueTextEquals("action"u8))
                {
                    json.Read();
                    action = json.GetString();
                }
                else if (json.ValueTextEquals("conn_id"u8))
                {
                    json.Read();
                    connId = json.GetString();
                }
                else if (json.ValueTextEquals("data"u8))
                {
                    json.Read();
                    dataStart = json.TokenStartIndex;
                    json.Skip();
                    dataLength = json.BytesConsumed - dataStart;
                }
                else
                {
                    json.Read();
                    json.Skip();
                }
            }
        }
        catch (JsonException)
        {
            return (null, null, 0, 0);
        }

        return (action, connId, dataStart, dataLength);
    }

    private sealed class AppState
    {
        public long Open;
        public long Message;
        public long Close;
        public long Unparsed;
        public long Echoed;
        public long EchoFailed;
        public long NotEnqueued;

        public volatile HttpClient? Gateway;

        public AppStats Snapshot() => new(
            Interlocked.Read(ref Open),
            Interlocked.Read(ref Message),
            Interlocked.Read(ref Close),
            Interlocked.Read(ref Unparsed),
            Interlocked.Read(ref Echoed),
            Interlocked.Read(ref EchoFailed),
            Interlocked.Read(ref NotEnqueued));
    }
}

/// <summary>The app's counters, at <c>GET /stats</c>.</summary>
public sealed record AppStats(long Open, long Message, long Close, long Unparsed, long Echoed, long EchoFailed, long NotEnqueued);
