using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Gateway.Callbacks;

namespace Gateway.Tests.Callbacks;

/// <summary>How the fake app answers one callback attempt; <see cref="Hold"/> keeps the request open until it completes.</summary>
internal sealed record ScriptedReply(CallbackOutcome Outcome, string? Body = null, TaskCompletionSource? Hold = null, Exception? Throw = null)
{
    public static ScriptedReply Delivered(string? body = null, TaskCompletionSource? hold = null) => new(CallbackOutcome.Delivered, body, hold);

    public static ScriptedReply Rejected(TaskCompletionSource? hold = null) => new(CallbackOutcome.Rejected, null, hold);

    public static ScriptedReply Transient(TaskCompletionSource? hold = null) => new(CallbackOutcome.Transient, null, hold);

    /// <summary>The attempt's task faults with <paramref name="exception"/> instead of returning a result.</summary>
    public static ScriptedReply Faulted(Exception exception) => new(CallbackOutcome.Transient, Throw: exception);
}

/// <summary>One attempt the fake app received, in arrival order.</summary>
internal sealed record RecordedCall(int Sequence, string Body, string Cookie, bool ReadBody, TimeSpan Timeout, long StartedAt)
{
    private JsonElement Json => JsonDocument.Parse(Body).RootElement;

    public string Action => Json.GetProperty("action").GetString()!;

    public string ConnId => Json.GetProperty("conn_id").GetString()!;

    /// <summary>The callback's <c>data</c> as raw JSON text.</summary>
    public string Data => Json.GetProperty("data").GetRawText();
}

/// <summary>
/// A fake app behind <see cref="IAppCallbackClient"/>. Each attempt takes the next reply scripted for
/// its connection (<see cref="ScriptFor"/>), else the next from the shared script (<see cref="Script"/>),
/// else is delivered at once. It records every attempt (body, cookie, order), the attempts that ended
/// delivered, and how many were in flight at most.
/// </summary>
internal sealed class ScriptedCallbackClient(Uri? target) : IAppCallbackClient
{
    public static readonly Uri AppUrl = new("http://127.0.0.1:9999/callback");

    private readonly Lock _gate = new();
    private readonly ConcurrentQueue<ScriptedReply> _shared = new();
    private readonly Dictionary<string, Queue<ScriptedReply>> _byConnection = new(StringComparer.Ordinal);
    private readonly List<RecordedCall> _calls = [];
    private readonly List<RecordedCall> _delivered = [];
    private int _inFlight;
    private int _maxInFlight;

    public ScriptedCallbackClient()
        : this(AppUrl)
    {
    }

    public Uri? Target { get; } = target;

    /// <summary>Every attempt, in the order the requests were made.</summary>
    public IReadOnlyList<RecordedCall> Calls
    {
        get
        {
            lock (_gate)
            {
                return [.. _calls];
            }
        }
    }

    /// <summary>The attempts the app answered with a success, in the order they completed.</summary>
    public IReadOnlyList<RecordedCall> Delivered
    {
        get
        {
            lock (_gate)
            {
                return [.. _delivered];
            }
        }
    }

    public int InFlight => Volatile.Read(ref _inFlight);

    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    /// <summary>Replies for the next attempts of any connection without its own script.</summary>
    public ScriptedCallbackClient Script(params ScriptedReply[] replies)
    {
        foreach (var reply in replies)
        {
            _shared.Enqueue(reply);
        }

        return this;
    }

    /// <summary>Replies for the next attempts of connection <paramref name="connId"/>, in order.</summary>
    public ScriptedCallbackClient ScriptFor(string connId, params ScriptedReply[] replies)
    {
        lock (_gate)
        {
            if (!_byConnection.TryGetValue(connId, out var queue))
            {
                queue = new Queue<ScriptedReply>();
                _byConnection.Add(connId, queue);
            }

            foreach (var reply in replies)
            {
                queue.Enqueue(reply);
            }
        }

        return this;
    }

    public async Task<CallbackResult> PostAsync(byte[] body, string cookie, bool readBody, TimeSpan timeout, CancellationToken cancellationToken)
    {
        RecordedCall call;
        ScriptedReply reply;
        lock (_gate)
        {
            call = new RecordedCall(_calls.Count, Encoding.UTF8.GetString(body), cookie, readBody, timeout, Stopwatch.GetTimestamp());
            _calls.Add(call);
            reply = _byConnection.TryGetValue(call.ConnId, out var own) && own.TryDequeue(out var scripted)
                ? scripted
                : _shared.TryDequeue(out var next) ? next : ScriptedReply.Delivered();
            _inFlight++;
            _maxInFlight = Math.Max(_maxInFlight, _inFlight);
        }

        try
        {
            if (reply.Hold is { } hold)
            {
                await hold.Task.ConfigureAwait(false);
            }

            if (reply.Throw is { } exception)
            {
                throw exception;
            }

            lock (_gate)
            {
                if (reply.Outcome == CallbackOutcome.Delivered)
                {
                    _delivered.Add(call);
                }
            }

            return reply.Outcome switch
            {
                CallbackOutcome.Delivered => new CallbackResult(CallbackOutcome.Delivered, 200, "delivered", reply.Body is null ? null : Encoding.UTF8.GetBytes(reply.Body)),
                CallbackOutcome.Rejected => new CallbackResult(CallbackOutcome.Rejected, 400, "app answered 400"),
                _ => new CallbackResult(CallbackOutcome.Transient, 503, "app answered 503"),
            };
        }
        finally
        {
            lock (_gate)
            {
                _inFlight--;
            }
        }
    }
}
