using System.Text;
using Gateway.WebSockets;

namespace Gateway.Tests.WebSockets;

/// <summary>A close requested of a <see cref="RecordingOutbox"/>.</summary>
internal sealed record CloseRequest(int Code, string Reason, bool DiscardPending = false);

/// <summary>
/// An <see cref="IOutbox"/> that records what actors enqueue and the closes they request, instead of
/// writing to a socket. <see cref="Result"/> makes it refuse messages (Overflow, Closed); after the first
/// close it refuses with Closed, as the real outbox does. Thread-safe: actors call it from the pool.
/// </summary>
internal sealed class RecordingOutbox : IOutbox
{
    private readonly Lock _gate = new();
    private readonly List<OutboundMessage> _messages = [];
    private readonly List<CloseRequest> _closes = [];
    private readonly List<int> _uncorkedBatches = [];
    private int _uncorks;
    private int _corked;
    private int _corkCount;
    private int _corkStart;

    /// <summary>What <see cref="TryEnqueue"/> answers while the outbox is open; only Enqueued records the message.</summary>
    public EnqueueResult Result { get; set; } = EnqueueResult.Enqueued;

    /// <summary>
    /// When set, the first close is reported to this actor as <see cref="Gateway.Connections.ConnectionProtocol.SocketClosed"/>,
    /// as a real socket's read loop does once the close handshake is over.
    /// </summary>
    public Akka.Actor.IActorRef? ReportsTo { get; set; }

    /// <summary>When set, <see cref="TryEnqueue"/> throws it (to make the calling actor fail).</summary>
    public Exception? ThrowOnEnqueue { get; set; }

    /// <summary>When set, runs on the caller's thread at the start of every enqueue.</summary>
    public Action? OnEnqueue { get; set; }

    public bool IsClosed
    {
        get
        {
            lock (_gate)
            {
                return _closes.Count > 0;
            }
        }
    }

    /// <summary>The enqueued messages in order.</summary>
    public IReadOnlyList<OutboundMessage> Messages
    {
        get
        {
            lock (_gate)
            {
                return [.. _messages];
            }
        }
    }

    /// <summary>The enqueued payloads decoded as UTF-8, in order.</summary>
    public IReadOnlyList<string> Sent => [.. Messages.Select(message => Encoding.UTF8.GetString(message.Payload.Span))];

    /// <summary>Every close requested, in order (the first is the one a real outbox honours).</summary>
    public IReadOnlyList<CloseRequest> Closes
    {
        get
        {
            lock (_gate)
            {
                return [.. _closes];
            }
        }
    }

    public EnqueueResult TryEnqueue(OutboundMessage message) => Enqueue(message, cork: false, out _);

    private EnqueueResult Enqueue(OutboundMessage message, bool cork, out bool uncorkLater)
    {
        ArgumentNullException.ThrowIfNull(message);
        uncorkLater = false;
        OnEnqueue?.Invoke();
        if (ThrowOnEnqueue is { } exception)
        {
            throw exception;
        }

        lock (_gate)
        {
            if (_closes.Count > 0)
            {
                return EnqueueResult.Closed;
            }

            if (Result == EnqueueResult.Enqueued)
            {
                _messages.Add(message);
                if (cork && Corks && _corked == 0)
                {
                    // The cork begins with this message: what an uncork releases is counted from here.
                    _corked = 1;
                    _corkCount++;
                    _corkStart = _messages.Count - 1;
                    uncorkLater = true;
                }
            }

            return Result;
        }
    }

    /// <summary>
    /// When set, a corked enqueue that records a message answers <c>uncorkLater</c> unless the outbox is corked already,
    /// as a real outbox does when it writes the frame at once.
    /// </summary>
    public bool Corks { get; set; }

    /// <summary>True from a corked enqueue that answered <c>uncorkLater</c> until <see cref="Uncork"/>.</summary>
    public bool IsCorked
    {
        get
        {
            lock (_gate)
            {
                return _corked == 1;
            }
        }
    }

    /// <summary>How many corked enqueues answered <c>uncorkLater</c>.</summary>
    public int Corked
    {
        get
        {
            lock (_gate)
            {
                return _corkCount;
            }
        }
    }

    /// <summary>How many times <see cref="Uncork"/> was called.</summary>
    public int Uncorks
    {
        get
        {
            lock (_gate)
            {
                return _uncorks;
            }
        }
    }

    /// <summary>
    /// With <see cref="Corks"/> set: for each <see cref="Uncork"/> of an open cork, in order, how many messages it
    /// released (the corked one and those enqueued behind it).
    /// </summary>
    public IReadOnlyList<int> UncorkedBatches
    {
        get
        {
            lock (_gate)
            {
                return [.. _uncorkedBatches];
            }
        }
    }

    public EnqueueResult TryEnqueueCorked(OutboundMessage message, out bool uncorkLater) => Enqueue(message, cork: true, out uncorkLater);

    /// <summary>When set, <see cref="Uncork"/> throws it after counting the call (and uncorking).</summary>
    public Exception? ThrowOnUncork { get; set; }

    public void Uncork()
    {
        lock (_gate)
        {
            _uncorks++;
            if (_corked == 1)
            {
                _uncorkedBatches.Add(_messages.Count - _corkStart);
                _corked = 0;
            }
        }

        if (ThrowOnUncork is { } exception)
        {
            throw exception;
        }
    }

    public void Close(int code, string reason, bool discardPending = false)
    {
        bool first;
        lock (_gate)
        {
            first = _closes.Count == 0;
            _closes.Add(new CloseRequest(code, reason, discardPending));
        }

        if (first)
        {
            ReportsTo?.Tell(new Gateway.Connections.ConnectionProtocol.SocketClosed(code, reason), Akka.Actor.ActorRefs.NoSender);
        }
    }
}
