using System.Text;
using Microsoft.AspNetCore.Http;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>
/// The app next to the gateway: a real Kestrel server in the test process on 127.0.0.1 that records
/// every request (arrival order, raw body, Cookie, Content-Type) and answers as scripted. It can be
/// stopped and started again on the same port, or created stopped, to play an app that is down.
/// </summary>
public sealed class AppServer : IAsyncDisposable
{
    /// <summary>The callback path, as Olares's <c>WS_URL</c> would give it.</summary>
    public const string CallbackPath = "/ws/callback";

    private readonly Lock _gate = new();
    private readonly List<RecordedCallback> _records = [];
    private TaskCompletionSource _changed = NewSignal();
    private readonly LoopbackListener _listener;
    private int _failNext;
    private int _failStatus = 500;

    private AppServer(int port)
    {
        Port = port;
        _listener = new LoopbackListener(HandleAsync, TimeSpan.FromSeconds(2));
    }

    /// <summary>The port; fixed for the server's life, across stops and restarts.</summary>
    public int Port { get; private set; }

    /// <summary><c>http://127.0.0.1:&lt;port&gt;/ws/callback</c>, to give the gateway.</summary>
    public Uri CallbackUrl => new($"http://127.0.0.1:{Port}{CallbackPath}");

    /// <summary>Whether it is listening.</summary>
    public bool IsRunning => _listener.IsRunning;

    /// <summary>Status of every answer unless scripted otherwise. Default 200.</summary>
    public int StatusCode { get; set; } = 200;

    /// <summary>Delay before every answer. Default none.</summary>
    public TimeSpan Delay { get; set; }

    /// <summary>Body of every answer. Default none (empty).</summary>
    public string? ResponseBody { get; set; }

    /// <summary>Per-request script: when it returns a reply, that reply is used instead of the settings above.</summary>
    public Func<RecordedCallback, AppReply?>? Responder { get; set; }

    /// <summary>Every request so far, in arrival order (including ones answered with an error).</summary>
    public IReadOnlyList<RecordedCallback> Requests
    {
        get
        {
            lock (_gate)
            {
                return [.. _records];
            }
        }
    }

    /// <summary>The requests the gateway has as delivered (answered 2xx), in arrival order.</summary>
    public IReadOnlyList<RecordedCallback> Delivered => Requests.Where(r => r.Delivered).ToList();

    /// <summary>Starts listening on <paramref name="port"/> (0: a free one).</summary>
    public static async Task<AppServer> StartAsync(int port = 0)
    {
        var server = new AppServer(port);
        await server.StartAsync().ConfigureAwait(false);
        return server;
    }

    /// <summary>An app that is down: a free port where nothing listens until <see cref="StartAsync()"/>.</summary>
    public static AppServer CreateStopped() => new(GatewayProcess.GetFreePort());

    /// <summary>The next <paramref name="count"/> requests are answered with <paramref name="status"/> (default 500).</summary>
    public void FailNext(int count, int status = 500)
    {
        lock (_gate)
        {
            _failNext = count;
            _failStatus = status;
        }
    }

    /// <summary>Starts (or restarts) listening on <see cref="Port"/>.</summary>
    public async Task StartAsync() => Port = await _listener.StartAsync(Port).ConfigureAwait(false);

    /// <summary>Stops listening (the app is down); requests in progress are cut. <see cref="StartAsync()"/> brings it back on the same port.</summary>
    public Task StopAsync() => _listener.StopAsync();

    /// <summary>The requests whose body names <paramref name="connId"/>, in arrival order.</summary>
    public IReadOnlyList<RecordedCallback> ForConnection(string connId) => Requests.Where(r => r.ConnId == connId).ToList();

    /// <summary>Waits until <paramref name="condition"/> holds for the requests recorded so far; returns them.</summary>
    public async Task<IReadOnlyList<RecordedCallback>> WaitUntilAsync(Func<IReadOnlyList<RecordedCallback>, bool> condition, TimeSpan? timeout = null, string what = "a condition on the callbacks")
    {
        var limit = timeout ?? TestTimeouts.Default;
        using var cancel = new CancellationTokenSource(limit);
        while (true)
        {
            Task changed;
            IReadOnlyList<RecordedCallback> snapshot;
            lock (_gate)
            {
                snapshot = [.. _records];
                changed = _changed.Task;
            }

            if (condition(snapshot))
            {
                return snapshot;
            }

            try
            {
                await changed.WaitAsync(cancel.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException(
                    $"Timed out after {limit} waiting for {what}; {snapshot.Count} requests recorded:\n{string.Join('\n', snapshot.TakeLast(50))}");
            }
        }
    }

    /// <summary>Waits for the first request matching <paramref name="predicate"/> (one already recorded counts).</summary>
    public async Task<RecordedCallback> WaitForAsync(Func<RecordedCallback, bool> predicate, TimeSpan? timeout = null, string what = "a matching callback")
    {
        var all = await WaitUntilAsync(records => records.Any(predicate), timeout, what).ConfigureAwait(false);
        return all.First(predicate);
    }

    /// <summary>Waits until at least <paramref name="count"/> requests match <paramref name="predicate"/> (all requests when null); returns the matching ones.</summary>
    public async Task<IReadOnlyList<RecordedCallback>> WaitForCountAsync(int count, Func<RecordedCallback, bool>? predicate = null, TimeSpan? timeout = null)
    {
        var all = await WaitUntilAsync(records => records.Count(predicate ?? (_ => true)) >= count, timeout, $"{count} callbacks").ConfigureAwait(false);
        return all.Where(predicate ?? (_ => true)).ToList();
    }

    /// <summary>
    /// The <c>open</c> callback of the first TAPR connection of <paramref name="user"/> (not a jac one, whose ids are
    /// <c>&lt;epoch&gt;:&lt;hex&gt;</c>) whose conn_id is not in <paramref name="except"/>: pass <see cref="OpenedBy"/>,
    /// taken before a socket connects, to wait for that socket's own <c>open</c> rather than an earlier socket's of the
    /// same user. An earlier socket whose <c>open</c> had not arrived when <see cref="OpenedBy"/> was taken can still be
    /// the one returned: wait for each socket's <c>open</c> before connecting the next.
    /// </summary>
    public Task<RecordedCallback> WaitForOpenAsync(string user, TimeSpan? timeout = null, IReadOnlySet<string>? except = null) =>
        WaitForAsync(
            r => r.Action == "open" && r.UserName == user && r.ConnId is { } id && !id.Contains(':', StringComparison.Ordinal) && (except is null || !except.Contains(id)),
            timeout,
            $"an open callback for user \"{user}\"");

    /// <summary>The conn_ids of <paramref name="user"/> whose <c>open</c> has arrived so far.</summary>
    public IReadOnlySet<string> OpenedBy(string user) =>
        Requests.Where(r => r.Action == "open" && r.UserName == user && r.ConnId is not null).Select(r => r.ConnId!).ToHashSet(StringComparer.Ordinal);

    /// <summary>The delivered callback of <paramref name="connId"/> with <paramref name="action"/>.</summary>
    public Task<RecordedCallback> WaitForActionAsync(string connId, string action, TimeSpan? timeout = null) =>
        WaitForAsync(r => r.ConnId == connId && r.Action == action && r.Delivered, timeout, $"a \"{action}\" callback for {connId}");

    /// <summary>Checks for <paramref name="window"/> (default <see cref="TestTimeouts.Quiet"/>) that no request matching <paramref name="predicate"/> beyond the first <paramref name="allowed"/> arrives.</summary>
    public async Task AssertNoMoreAsync(Func<RecordedCallback, bool> predicate, int allowed, TimeSpan? window = null, string what = "callbacks")
    {
        try
        {
            var extra = await WaitUntilAsync(records => records.Count(predicate) > allowed, window ?? TestTimeouts.Quiet).ConfigureAwait(false);
            Assert.Fail($"Expected at most {allowed} {what}, got {extra.Count(predicate)}:\n{string.Join('\n', extra.Where(predicate))}");
        }
        catch (TimeoutException)
        {
            // Nothing more arrived: as expected.
        }
    }

    /// <summary>Writes every recorded request to a test's output.</summary>
    public void DumpRequests(ITestOutputHelper output, long fromSequence = 0)
    {
        var requests = Requests.Where(r => r.Sequence >= fromSequence).ToList();
        output.WriteLine($"----- app: {requests.Count} requests from #{fromSequence} -----");
        foreach (var request in requests.TakeLast(200))
        {
            output.WriteLine(request.ToString());
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    private async Task HandleAsync(HttpContext context)
    {
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body, context.RequestAborted).ConfigureAwait(false);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, values) in context.Request.Headers)
        {
            headers[name] = values.ToString();
        }

        RecordedCallback record;
        AppReply reply;
        TaskCompletionSource changed;
        lock (_gate)
        {
            var failing = _failNext > 0;
            if (failing)
            {
                _failNext--;
            }

            var provisional = new RecordedCallback(_records.Count, context.Request.Method, context.Request.Path + context.Request.QueryString, headers, body.ToArray(), 0);
            reply = failing
                ? new AppReply(_failStatus)
                : Responder?.Invoke(provisional) ?? new AppReply(StatusCode, ResponseBody, Delay);
            record = new RecordedCallback(provisional.Sequence, provisional.Method, provisional.Path, headers, provisional.Body, reply.Status);
            _records.Add(record);
            changed = _changed;
            _changed = NewSignal();
        }

        changed.TrySetResult();

        if (reply.Delay > TimeSpan.Zero)
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _listener.Stopping);
            try
            {
                await Task.Delay(reply.Delay, linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // The gateway gave up (or the app is stopping): no answer.
                context.Abort();
                return;
            }
        }

        context.Response.StatusCode = reply.Status;
        if (reply.Body is not null)
        {
            var bytes = Encoding.UTF8.GetBytes(reply.Body);
            context.Response.ContentType = reply.ContentType;
            context.Response.ContentLength = bytes.Length;
            await context.Response.Body.WriteAsync(bytes, context.RequestAborted).ConfigureAwait(false);
        }

        await context.Response.CompleteAsync().ConfigureAwait(false);
        if (!context.RequestAborted.IsCancellationRequested)
        {
            record.MarkAnswered();
            lock (_gate)
            {
                changed = _changed;
                _changed = NewSignal();
            }

            changed.TrySetResult();
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
