using System.Collections.Concurrent;
using System.Text.Json;
using Gateway.IntegrationTests.Infrastructure;
using Microsoft.AspNetCore.Http;

namespace Gateway.IntegrationTests.Soak;

/// <summary>How the soak's app answers callbacks at a given moment.</summary>
public enum AppMode
{
    /// <summary>200 at once.</summary>
    Healthy,

    /// <summary>503 at once: the work is not done, the gateway retries.</summary>
    Failing,

    /// <summary>Does the work, then answers 200 only after the gateway's callback timeout: the retry is a legitimate duplicate.</summary>
    Hanging,

    /// <summary>Not listening: the port is closed.</summary>
    Down,
}

/// <summary>
/// The soak's app: Kestrel on 127.0.0.1 in the test process that records, per connection id, only what
/// the invariants need (action, sequence number, whether the gateway got a 2xx for that attempt), so it
/// keeps up with thousands of callbacks a second. Its <see cref="Mode"/> injects faults; <see cref="AppMode.Down"/>
/// stops listening and any other mode listens again on the same port.
/// </summary>
public sealed class SoakApp : IAsyncDisposable
{
    private const string CallbackPath = "/soak/callback";

    private readonly ConcurrentDictionary<string, ConnectionLog> _connections = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _modeGate = new(1, 1);
    private readonly TimeSpan _hangFor;
    private readonly LoopbackListener _listener;
    private volatile AppMode _mode = AppMode.Healthy;
    private long _requests;
    private long _refused;
    private long _hung;
    private long _malformed;

    private SoakApp(int port, TimeSpan hangFor)
    {
        Port = port;
        _hangFor = hangFor;
        _listener = new LoopbackListener(HandleAsync, TimeSpan.FromSeconds(1));
    }

    /// <summary>The port, the same across stops and restarts.</summary>
    public int Port { get; }

    /// <summary>The URL to give the gateway.</summary>
    public Uri CallbackUrl => new($"http://127.0.0.1:{Port}{CallbackPath}");

    /// <summary>The current mode.</summary>
    public AppMode Mode => _mode;

    /// <summary>Every request that reached the app.</summary>
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>Requests answered 503.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Requests processed and answered only after the gateway's timeout.</summary>
    public long Hung => Interlocked.Read(ref _hung);

    /// <summary>Requests whose body the app could not read as a callback (each one is a violation).</summary>
    public long Malformed => Interlocked.Read(ref _malformed);

    /// <summary>What the app processed, per connection id.</summary>
    public IReadOnlyDictionary<string, ConnectionLog> Connections => _connections;

    /// <summary>Starts listening on a free port; <paramref name="hangFor"/> is how long a hanging answer takes (longer than the gateway's callback timeout).</summary>
    public static async Task<SoakApp> StartAsync(TimeSpan hangFor)
    {
        var app = new SoakApp(Infrastructure.GatewayProcess.GetFreePort(), hangFor);
        await app.ListenAsync().ConfigureAwait(false);
        return app;
    }

    /// <summary>Switches mode; to and from <see cref="AppMode.Down"/> this closes or reopens the port before returning.</summary>
    public async Task SetModeAsync(AppMode mode)
    {
        await _modeGate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (mode == AppMode.Down)
            {
                _mode = mode;
                await StopListeningAsync().ConfigureAwait(false);
            }
            else
            {
                await ListenAsync().ConfigureAwait(false);
                _mode = mode;
            }
        }
        finally
        {
            _modeGate.Release();
        }
    }

    /// <summary>The log of <paramref name="connId"/>, or null if the app never processed anything of it.</summary>
    public ConnectionLog? For(string connId) => _connections.GetValueOrDefault(connId);

    public async ValueTask DisposeAsync()
    {
        await StopListeningAsync().ConfigureAwait(false);
        _modeGate.Dispose();
    }

    private Task ListenAsync() => _listener.StartAsync(Port);

    private Task StopListeningAsync() => _listener.StopAsync();

    private async Task HandleAsync(HttpContext context)
    {
        Interlocked.Increment(ref _requests);
        var mode = _mode;
        if (mode == AppMode.Failing)
        {
            Interlocked.Increment(ref _refused);
            context.Response.StatusCode = 503;
            return;
        }

        var length = (int)(context.Request.ContentLength ?? 4096);
        using var body = new MemoryStream(length);
        await context.Request.Body.CopyToAsync(body, context.RequestAborted).ConfigureAwait(false);
        var entry = Record(body.GetBuffer().AsMemory(0, (int)body.Length));
        if (entry is null)
        {
            Interlocked.Increment(ref _malformed);
            context.Response.StatusCode = 400;
            return;
        }

        if (mode == AppMode.Hanging)
        {
            // The work is done now; the answer comes after the gateway has given up on this attempt.
            Interlocked.Increment(ref _hung);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _listener.Stopping);
            try
            {
                await Task.Delay(_hangFor, linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                context.Abort();
                return;
            }
        }

        context.Response.StatusCode = 200;
        await context.Response.CompleteAsync().ConfigureAwait(false);
        if (!context.RequestAborted.IsCancellationRequested)
        {
            entry.Acknowledged = true;
        }
    }

    private CallbackEntry? Record(ReadOnlyMemory<byte> body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            var action = root.GetProperty("action").GetString();
            var connId = root.GetProperty("conn_id").GetString();
            if (connId is null)
            {
                return null;
            }

            var kind = action switch
            {
                "open" => CallbackKind.Open,
                "message" => CallbackKind.Message,
                "close" => CallbackKind.Close,
                _ => (CallbackKind?)null,
            };
            if (kind is null)
            {
                return null;
            }

            var seq = -1;
            string? client = null;
            if (kind == CallbackKind.Message)
            {
                var data = root.GetProperty("data");

                // TAPR: the client's frame itself; jac: the walker event, the numbered message in its context.
                if (data.TryGetProperty("context", out var context))
                {
                    data = context;
                }

                if (data.TryGetProperty("seq", out var number) && number.TryGetInt32(out var parsed))
                {
                    seq = parsed;
                }

                client = data.TryGetProperty("c", out var key) ? key.GetString() : null;
            }

            var log = _connections.GetOrAdd(connId, static _ => new ConnectionLog());
            var entry = new CallbackEntry(kind.Value, seq);
            log.Add(entry, client);
            return entry;
        }
        catch (Exception exception) when (exception is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return null;
        }
    }
}

/// <summary>A callback's action.</summary>
public enum CallbackKind
{
    Open,
    Message,
    Close,
}

/// <summary>One callback the app processed: its action, the client's sequence number (messages; -1 otherwise) and whether the gateway got the 200.</summary>
public sealed class CallbackEntry(CallbackKind kind, int seq)
{
    private volatile bool _acknowledged;

    public CallbackKind Kind { get; } = kind;

    public int Seq { get; } = seq;

    /// <summary>The 200 reached the gateway in time (false for an attempt that hung past the timeout or was cut).</summary>
    public bool Acknowledged
    {
        get => _acknowledged;
        set => _acknowledged = value;
    }

    public bool SameEventAs(CallbackEntry other) => Kind == other.Kind && Seq == other.Seq;

    public override string ToString() => Kind == CallbackKind.Message ? $"m{Seq}" : Kind == CallbackKind.Open ? "open" : "close";
}

/// <summary>What the app processed of one connection, in arrival order (the gateway sends one connection's callbacks one at a time).</summary>
public sealed class ConnectionLog
{
    private readonly List<CallbackEntry> _entries = [];

    /// <summary>The first client key seen in a message (<c>"c"</c>), to find the connection's client.</summary>
    public string? ClientKey { get; private set; }

    /// <summary>Another client key than the first one appeared: messages of two clients under one id.</summary>
    public string? OtherClientKey { get; private set; }

    public IReadOnlyList<CallbackEntry> Entries
    {
        get
        {
            lock (_entries)
            {
                return [.. _entries];
            }
        }
    }

    public bool HasClose
    {
        get
        {
            lock (_entries)
            {
                return _entries.Exists(e => e.Kind == CallbackKind.Close);
            }
        }
    }

    internal void Add(CallbackEntry entry, string? client)
    {
        lock (_entries)
        {
            _entries.Add(entry);
            if (client is not null)
            {
                if (ClientKey is null)
                {
                    ClientKey = client;
                }
                else if (client != ClientKey)
                {
                    OtherClientKey = client;
                }
            }
        }
    }
}
