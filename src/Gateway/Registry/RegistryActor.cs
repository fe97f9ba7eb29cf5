using Akka.Actor;
using Gateway.Connections;
using Gateway.Hosting;
using Gateway.Users;
using Gateway.WebSockets;
using static Gateway.Registry.RegistryProtocol;

namespace Gateway.Registry;

/// <summary>
/// The top of the gateway: owns the user → <see cref="UserActor"/> map and the indexes the admin API
/// and the jac dialect address connections by (id, user, token, channel), and routes sends, closes
/// and lists. Frames are written by enqueueing into each target's outbox, so a send to many is one
/// pass here with the payload encoded once; the registry never waits on a socket.
/// </summary>
public sealed partial class RegistryActor : ReceiveActor
{
    private readonly IActorRef _callbacks;
    private readonly Action<int>? _delivered;
    private readonly ConnectionSettings _tapr;
    private readonly ConnectionSettings _jac;
    private readonly ILogger _log;
    private readonly ILogger<UserActor> _userLog;
    private readonly ConnectionIndex _index = new();
    private readonly Dictionary<string, UserSlot> _users = new(StringComparer.Ordinal);
    private readonly List<IActorRef> _emptyWaiters = [];

    /// <summary>Most payload bytes held and corked together by default (<see cref="Props"/>).</summary>
    internal const long DefaultCorkBytes = 64 * 1024;

    // Outboxes one thread uncorks in a row when a cork is released over several threads.
    private const int UncorkChunk = 256;

    // The registry's thread takes its share of a release and the thread pool runs the rest. The scheduler is named:
    // under Akka's RunTask, TaskScheduler.Current is the actor's own, which runs one task at a time.
    private static readonly ParallelOptions UncorkOptions = new() { TaskScheduler = TaskScheduler.Default, MaxDegreeOfParallelism = Environment.ProcessorCount };

    // Sends are held while more messages wait, up to _corkSends sends or _corkBytes payload bytes: what queues behind a
    // corked frame counts against the slow-consumer bounds (4001) and waits, so a long burst is sent in steps.
    private readonly int _corkSends;
    private readonly long _corkBytes;

    // Sends held until the messages waiting behind them are in, then written to each socket together, in order.
    private readonly List<(SendToConnections Send, IActorRef ReplyTo)> _pending = [];
    private int[] _enqueued = [];

    // Outboxes holding a frame for their uncork, uncorked together once the sends waiting behind it are written.
    private readonly List<IOutbox> _corked = [];

    // Sends and payload bytes held or corked since the last uncork.
    private int _corkedSends;
    private long _corkedBytes;

    // True while a SendPending carrying _generation is in the mailbox.
    private bool _sendScheduled;

    // The generation of the held sends and the open cork, +1 at every UncorkAll (wrapping is harmless). A SendPending
    // carrying another generation was told for sends uncorked since (at a bound, or when nothing more was waiting) and
    // is ignored. Each instance starts at a random generation, so that a SendPending a failed instance left in the
    // mailbox is stale for the instance that replaces it.
    private int _generation = Random.Shared.Next();
    private bool _shuttingDown;
    private IActorRef? _peers;
    private IActorRef? _directory;
    private readonly Dictionary<long, (IActorRef User, UserProtocol.AttachConnection Attach, IActorRef ReplyTo)> _awaitingDirectory = [];
    private long _nextPublish;

    /// <param name="callbacks">The <see cref="Callbacks.CallbackActor"/> every connection tells its events.</param>
    /// <param name="tapr">Settings of TAPR connections (<c>/ws</c>).</param>
    /// <param name="jac">Settings of jac connections (<c>/websocket</c>).</param>
    /// <param name="loggers">Where the registry, its user actors and their connection actors log.</param>
    /// <param name="corkSends">Most sends held and corked together while more messages wait (<c>Gateway:Limits:CorkSends</c>); 1 or less: never hold or cork.</param>
    /// <param name="corkBytes">
    /// Most payload bytes held and corked together (a single larger send goes alone). The host passes at most half of
    /// <c>Gateway:Limits:OutboundQueueBytes</c>: what a cork queues behind its first frame then leaves the other half
    /// to the socket's other frames (pongs, jac replies), and corking alone does not close a healthy client with 4001.
    /// </param>
    /// <param name="delivered">
    /// Told, on the registry's thread, how many frames each send or route queued to this node's sockets (the host
    /// counts them for the compaction after a burst, which waits while messages flow).
    /// </param>
    public RegistryActor(IActorRef callbacks, ConnectionSettings tapr, ConnectionSettings jac, ILoggerFactory loggers, int corkSends = 16, long corkBytes = DefaultCorkBytes, Action<int>? delivered = null)
    {
        _callbacks = callbacks;
        _delivered = delivered;
        _corkSends = corkSends;
        _corkBytes = corkBytes;
        var connectionLog = loggers.CreateLogger<ConnectionActor>();
        _tapr = tapr with { Logger = connectionLog };
        _jac = jac with { Logger = connectionLog };
        _log = loggers.CreateLogger<RegistryActor>();
        _userLog = loggers.CreateLogger<UserActor>();

        Receive<RegisterConnection>(HandleRegister);
        Receive<AbandonConnection>(HandleAbandon);
        Receive<UserProtocol.ConnectionEnded>(HandleConnectionEnded);
        Receive<UserProtocol.UserIdle>(HandleUserIdle);
        Receive<SendToConnections>(HandleSend);
        Receive<SendPending>(pending =>
        {
            if (pending.Generation == _generation)
            {
                WritePending(release: true);
            }
        });
        Receive<CloseConnections>(HandleClose);
        Receive<GetConnections>(_ => Sender.Tell(BuildList()));
        Receive<RegistryProtocol.Route>(HandleRoute);
        Receive<UsePeers>(use =>
        {
            _peers = use.Peers;
            _directory = use.Directory;
        });
        Receive<Cluster.DirectoryProtocol.Published>(HandlePublished);
        Receive<IdentityChanged>(HandleIdentityChanged);
        Receive<CloseAll>(HandleCloseAll);
        Receive<AwaitEmpty>(_ => HandleAwaitEmpty());
        Receive<GetStats>(_ => Sender.Tell(new RegistryStats(_index.Count, _index.UserCount, _users.Count)));
    }

    /// <summary>The registry's props; one per actor system, named <c>registry</c>.</summary>
    public static Props Props(IActorRef callbacks, ConnectionSettings tapr, ConnectionSettings jac, ILoggerFactory loggers, int corkSends = 16, long corkBytes = DefaultCorkBytes, Action<int>? delivered = null) =>
        ActorFactory<RegistryActor>.Props(() => new RegistryActor(callbacks, tapr, jac, loggers, corkSends, corkBytes, delivered));

    /// <summary>A user actor failing is a bug; its connections are lost either way, so stop it rather than restart it empty.</summary>
    protected override SupervisorStrategy SupervisorStrategy() => Akka.Actor.SupervisorStrategy.StoppingStrategy;

    /// <summary>
    /// Held sends are written before any other message is handled: a close, a registration or a list after a send must
    /// find it enqueued, as it would have been unheld.
    /// </summary>
    protected override bool AroundReceive(Receive receive, object message)
    {
        if (_pending.Count > 0 && message is not SendToConnections and not SendPending)
        {
            WritePendingBeforeHandling(release: false);
        }

        return base.AroundReceive(receive, message);
    }

    /// <summary>
    /// A restart releases the open corks while the connections are still there (the restart then stops them). Nothing
    /// is held by then: held sends are written before any other message, and a failure while writing them answers them.
    /// </summary>
    protected override void PreRestart(Exception reason, object message)
    {
        try
        {
            WritePending(release: true);
        }
        finally
        {
            base.PreRestart(reason, message);
        }
    }

    /// <summary>
    /// A stop must answer held sends and leave no socket corked. By now the connections have stopped, so the receipts
    /// count them as dropped.
    /// </summary>
    protected override void PostStop()
    {
        WritePending(release: true);
        base.PostStop();
    }

    private void UncorkAll()
    {
        var corked = _corked.Count;
        if (corked >= 2 * UncorkChunk && Environment.ProcessorCount > 1)
        {
            // A broadcast's sends are each a syscall of several microseconds: hand them to the sockets from every core,
            // this thread included, and return when all are done, so the registry still goes no faster than its sends.
            // Each outbox is uncorked by one thread only, and its own lock orders its frames whichever thread that is.
            Parallel.For(0, (corked + UncorkChunk - 1) / UncorkChunk, UncorkOptions, chunk =>
            {
                var end = Math.Min(corked, (chunk + 1) * UncorkChunk);
                for (var i = chunk * UncorkChunk; i < end; i++)
                {
                    Uncork(_corked[i]);
                }
            });
        }
        else
        {
            foreach (var outbox in _corked)
            {
                Uncork(outbox);
            }
        }

        _corked.Clear();
        _corkedSends = 0;
        _corkedBytes = 0;
        _generation++;
        _sendScheduled = false;
    }

    private void Uncork(IOutbox outbox)
    {
        // Each exactly once: an outbox's writer turn is its uncork's, and a second uncork would race the drain it hands
        // over to. So one that throws (the real outbox reports write failures itself) must not stop the rest.
        try
        {
            outbox.Uncork();
        }
        catch (Exception exception)
        {
            Log.UncorkFailed(_log, exception);
        }
    }

    private void HandleRegister(RegisterConnection register)
    {
        var identity = register.Identity;
        if (_shuttingDown)
        {
            Sender.Tell(new Status.Failure(new ShuttingDownException()));
            return;
        }

        if (_index.Contains(identity.Id))
        {
            Sender.Tell(new Status.Failure(new InvalidOperationException($"Connection id {identity.Id} is already in use.")));
            return;
        }

        _index.Add(new IndexedConnection(identity, register.Outbox));
        var slot = UserSlotFor(identity.User);
        slot.Routed++;
        var attach = new UserProtocol.AttachConnection(identity, register.Outbox, register.Flow);
        if (_directory is null)
        {
            slot.Actor.Forward(attach);
            return;
        }

        // Clustered: the socket takes this node's sends at once (it is indexed), but its app hears `open` only
        // once every peer's directory replica knows this node holds its user and channel (DirectoryActor).
        var token = ++_nextPublish;
        _awaitingDirectory[token] = (slot.Actor, attach, Sender);
        _directory.Tell(new Cluster.DirectoryProtocol.Publish(Cluster.OwnerDirectory.EntriesOf(identity), token));
    }

    private void HandlePublished(Cluster.DirectoryProtocol.Published published)
    {
        if (_awaitingDirectory.Remove(published.Token, out var waiting))
        {
            waiting.User.Tell(waiting.Attach, waiting.ReplyTo);
        }
    }

    private void HandleAbandon(AbandonConnection abandon)
    {
        // Still waiting for the directory: it was never handed to its user actor, so undo the registration here.
        foreach (var (token, waiting) in _awaitingDirectory)
        {
            if (waiting.Attach.Identity.Id == abandon.Id)
            {
                _awaitingDirectory.Remove(token);
                if (_users.TryGetValue(waiting.Attach.Identity.User, out var waitingSlot))
                {
                    // The user actor may have been created for this connection alone: let it report idle.
                    waitingSlot.Routed--;
                    waitingSlot.Actor.Tell(UserProtocol.CheckIdle.Instance);
                }

                HandleConnectionEnded(new UserProtocol.ConnectionEnded(abandon.Id));
                return;
            }
        }

        if (_index.TryGet(abandon.Id, out var connection) && _users.TryGetValue(connection.Identity.User, out var slot))
        {
            slot.Actor.Tell(new UserProtocol.AbandonConnection(abandon.Id));
        }
    }

    private void HandleConnectionEnded(UserProtocol.ConnectionEnded ended)
    {
        if (_index.Remove(ended.Id) is { } removed && _directory is not null)
        {
            _directory.Tell(new Cluster.DirectoryProtocol.Withdraw(Cluster.OwnerDirectory.EntriesOf(removed.Identity)));
        }

        if (_index.Count == 0 && _emptyWaiters.Count > 0)
        {
            foreach (var waiter in _emptyWaiters)
            {
                waiter.Tell(RegistryEmpty.Instance);
            }

            _emptyWaiters.Clear();
        }
    }

    private void HandleUserIdle(UserProtocol.UserIdle idle)
    {
        // Stop the user actor only if no attach request is on its way to it.
        if (_users.TryGetValue(idle.User, out var slot) && slot.Actor.Equals(Sender) && slot.Routed == idle.Attached)
        {
            _users.Remove(idle.User);
            Context.Stop(slot.Actor);
        }
    }

    private void HandleSend(SendToConnections send)
    {
        if (_corkSends <= 1)
        {
            SendNow(send);
            return;
        }

        // While more messages wait in this mailbox (usually a burst of sends), the send is held: the sends waiting
        // behind it join it, and each socket then gets all their frames in one write. A send that finds the mailbox
        // empty is written at once (nothing is held then: a held send's SendPending would be waiting).
        var length = send.Message.Payload.Length;
        if (_corkedSends > 0 && _corkedBytes + length > _corkBytes)
        {
            // It would queue past the byte bound behind a corked frame: release what is held and corked first.
            WritePendingBeforeHandling(release: true);
        }

        _pending.Add((send, Sender));
        _corkedSends++;
        _corkedBytes += length;
        if (MustRelease)
        {
            // Written now; the corks are released after the write unless more messages arrived meanwhile.
            WritePending(release: false);
        }
        else
        {
            ScheduleSendPending();
        }
    }

    // A cork is released at a bound, or once nothing more waits in the mailbox to join it.
    private bool MustRelease =>
        _corkedSends >= _corkSends || _corkedBytes >= _corkBytes || Context is not ActorCell { Mailbox.MessageQueue.HasMessages: true };

    private void ScheduleSendPending()
    {
        if (!_sendScheduled)
        {
            _sendScheduled = true;
            Self.Tell(new SendPending(_generation));
        }
    }

    /// <summary>
    /// <see cref="WritePending"/> before handling the current message; if that fails, the message's sender gets the
    /// failure too (it would get no answer from a registry about to restart), and the exception goes on to the
    /// supervisor.
    /// </summary>
    private void WritePendingBeforeHandling(bool release)
    {
        try
        {
            WritePending(release);
        }
        catch (Exception exception)
        {
            if (!Sender.IsNobody() && !Sender.Equals(Self))
            {
                Sender.Tell(new Status.Failure(exception));
            }

            throw;
        }
    }

    /// <summary>Corking off: each frame is written and flushed as it is enqueued.</summary>
    private void SendNow(SendToConnections send)
    {
        var (matched, enqueued) = EnqueueEach(_index.Resolve(send.Filter), send.Message);
        Sender.Tell(new DeliveryReceipt(matched, enqueued, matched - enqueued));
    }

    /// <summary>
    /// Enqueues <paramref name="message"/> to each of <paramref name="targets"/>, uncorked, and counts the frames queued
    /// (<c>delivered</c>); returns how many targets there were and how many took it.
    /// </summary>
    private (int Matched, int Enqueued) EnqueueEach(IEnumerable<IndexedConnection> targets, OutboundMessage message)
    {
        var matched = 0;
        var enqueued = 0;
        foreach (var target in targets)
        {
            matched++;
            if (target.Outbox.TryEnqueue(message) == EnqueueResult.Enqueued)
            {
                enqueued++;
            }
        }

        _delivered?.Invoke(enqueued);
        return (matched, enqueued);
    }

    /// <summary>
    /// Enqueues the held sends, in order, and answers them. Sends in a row with the same targets are resolved once, and
    /// each target gets their frames one after another: the first corks an idle socket, the rest queue behind it. The
    /// corks are then released (one write per socket) unless more messages arrived meanwhile and the bounds allow: then
    /// the sends among them join the corks, which a <see cref="SendPending"/> behind them releases at the latest.
    /// <paramref name="release"/> releases them in any case. If enqueueing throws (a bug: an outbox reports its own
    /// failures), the sends not answered yet get a <see cref="Status.Failure"/> and the exception is rethrown, so the
    /// registry restarts.
    /// </summary>
    private void WritePending(bool release)
    {
        var batch = _pending;
        if (_enqueued.Length < batch.Count)
        {
            _enqueued = new int[Math.Max(batch.Count, _corkSends)];
        }

        var first = 0;
        try
        {
            while (first < batch.Count)
            {
                var filter = batch[first].Send.Filter;
                var end = first + 1;
                while (end < batch.Count && batch[end].Send.Filter.SameTargetsAs(filter))
                {
                    end++;
                }

                Array.Clear(_enqueued, first, end - first);
                var matched = 0;
                foreach (var target in _index.Resolve(filter))
                {
                    matched++;
                    for (var i = first; i < end; i++)
                    {
                        if (target.Outbox.TryEnqueueCorked(batch[i].Send.Message, out var uncorkLater) == EnqueueResult.Enqueued)
                        {
                            _enqueued[i]++;
                        }

                        if (uncorkLater)
                        {
                            _corked.Add(target.Outbox);
                        }
                    }
                }

                for (var i = first; i < end; i++)
                {
                    _delivered?.Invoke(_enqueued[i]);
                    batch[i].ReplyTo.Tell(new DeliveryReceipt(matched, _enqueued[i], matched - _enqueued[i]));
                }

                first = end;
            }
        }
        catch (Exception exception)
        {
            // A bug (a real outbox does not throw): the registry restarts. The sends not answered yet fail now, instead
            // of leaving their askers to time out.
            for (var i = first; i < batch.Count; i++)
            {
                batch[i].ReplyTo.Tell(new Status.Failure(exception));
            }

            throw;
        }
        finally
        {
            // Cleared even after a failure half-way, so that no send is enqueued twice (from PreRestart).
            batch.Clear();
            if (release || MustRelease)
            {
                UncorkAll();
            }
            else
            {
                ScheduleSendPending();
            }
        }
    }

    private void HandleClose(CloseConnections close)
    {
        var closed = 0;
        foreach (var target in _index.Resolve(close.Filter))
        {
            // The transport reports the close to the connection actor, which stops and sends the app its
            // close; the index changes only when that reaches this actor, after this loop.
            target.Outbox.Close(close.Code, close.Reason);
            closed++;
        }

        Log.ClosedByAdmin(_log, closed, close.Code);
        Sender.Tell(new ConnectionsClosed(closed));
    }

    private ConnectionList BuildList()
    {
        var users = new SortedDictionary<string, (List<ConnectionIdentity> Private, List<ConnectionIdentity> Public)>(StringComparer.Ordinal);
        foreach (var connection in _index.All)
        {
            var identity = connection.Identity;
            if (!users.TryGetValue(identity.User, out var lists))
            {
                lists = ([], []);
                users.Add(identity.User, lists);
            }

            (identity.AccessPublic ? lists.Public : lists.Private).Add(identity);
        }

        var result = new List<UserConnections>(users.Count);
        foreach (var (name, lists) in users)
        {
            result.Add(new UserConnections(name, Ordered(lists.Private), Ordered(lists.Public)));
        }

        return new ConnectionList(result);

        static List<ConnectionIdentity> Ordered(List<ConnectionIdentity> identities)
        {
            identities.Sort(static (a, b) => a.ConnectedAt != b.ConnectedAt
                ? a.ConnectedAt.CompareTo(b.ConnectedAt)
                : string.CompareOrdinal(a.Id.Value, b.Id.Value));
            return identities;
        }
    }

    private void HandleRoute(RegistryProtocol.Route route)
    {
        EnqueueEach(_index.Lookup(route.Kind, route.Targets), route.Message);
        if (!route.Relayed)
        {
            _peers?.Tell(new Cluster.PeersProtocol.Relay(route));
        }
    }

    private void HandleIdentityChanged(IdentityChanged changed)
    {
        if (_index.TryGet(changed.Current.Id, out var connection))
        {
            // The new user is published without holding anything back (the socket is already open): a peer that
            // knows the user only on other nodes may miss this socket until the write lands (docs/cluster.md).
            _directory?.Tell(new Cluster.DirectoryProtocol.Publish(Cluster.OwnerDirectory.EntriesOf(changed.Current), 0));
            _directory?.Tell(new Cluster.DirectoryProtocol.Withdraw(Cluster.OwnerDirectory.EntriesOf(connection.Identity)));
            _index.Update(connection, changed.Current);
        }
    }

    private void HandleCloseAll(CloseAll closeAll)
    {
        _shuttingDown = true;
        var count = 0;
        foreach (var connection in _index.All)
        {
            connection.Outbox.Close(closeAll.Code, closeAll.Reason);
            count++;
        }

        Sender.Tell(new ConnectionsClosed(count));
    }

    private void HandleAwaitEmpty()
    {
        if (_index.Count == 0)
        {
            Sender.Tell(RegistryEmpty.Instance);
        }
        else
        {
            _emptyWaiters.Add(Sender);
        }
    }

    private UserSlot UserSlotFor(string user)
    {
        if (!_users.TryGetValue(user, out var slot))
        {
            slot = new UserSlot(Context.ActorOf(UserActor.Props(user, Self, _callbacks, _tapr, _jac, _userLog)));
            _users.Add(user, slot);
        }

        return slot;
    }

    private sealed class UserSlot(IActorRef actor)
    {
        public IActorRef Actor { get; } = actor;

        public long Routed { get; set; }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 400, Level = LogLevel.Information, Message = "Admin close: {Count} connections closed with {Code}")]
        public static partial void ClosedByAdmin(ILogger logger, int count, int code);

        [LoggerMessage(EventId = 401, Level = LogLevel.Error, Message = "Uncorking an outbox failed")]
        public static partial void UncorkFailed(ILogger logger, Exception exception);
    }

    /// <summary>
    /// Sent to itself after a send it held or a cork it left open; FIFO puts it behind the messages already waiting. It
    /// writes the held sends and releases the corks of its <paramref name="Generation"/> only: once those were released
    /// (at <c>CorkSends</c> sends, the byte bound, or when nothing more was waiting), the message is stale.
    /// </summary>
    private sealed record SendPending(int Generation);
}
