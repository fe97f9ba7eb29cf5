using Akka.Actor;
using Akka.Cluster;
using Akka.DistributedData;
using Gateway.Hosting;
using static Gateway.Cluster.DirectoryProtocol;

namespace Gateway.Cluster;

/// <summary>
/// Writes this node's part of the <see cref="OwnerDirectory"/> (<c>/user/directory</c>, only with clustering on).
/// It counts the connections holding each entry. An entry that becomes held is written with <c>WriteAll</c>:
/// the registry holds the new connection's <c>open</c> back until every reachable node's replica has it, which
/// is what lets a peer route to owners without missing a socket its app already knows about. Writes are
/// batched: while one is in flight the next batch gathers, so connection churn costs one write per round trip,
/// not one per connection. An entry no longer held is removed lazily (<see cref="Linger"/> later, with
/// <c>WriteLocal</c> and gossip): a stale entry only costs a peer message, and a socket that reconnects within
/// the linger needs no write at all.
/// </summary>
public sealed partial class DirectoryActor : ReceiveActor, IWithTimers
{
    /// <summary>How long an entry nobody holds stays published.</summary>
    internal static readonly TimeSpan Linger = TimeSpan.FromSeconds(2);

    private readonly IActorRef _replicator;
    private readonly UniqueAddress _self;
    private readonly TimeSpan _writeTimeout;
    private readonly ILogger _log;
    private readonly Dictionary<string, int> _held = new(StringComparer.Ordinal);
    private readonly HashSet<string> _confirmed = new(StringComparer.Ordinal);
    private readonly HashSet<string> _pending = new(StringComparer.Ordinal);
    private readonly HashSet<string> _withdrawn = new(StringComparer.Ordinal);
    private readonly List<(IActorRef ReplyTo, long Token, IReadOnlyList<string> Entries)> _waiting = [];
    private List<(IActorRef ReplyTo, long Token, IReadOnlyList<string> Entries)> _inFlightWaiters = [];
    private HashSet<string> _inFlightEntries = new(StringComparer.Ordinal);
    private int _inFlightWrites;
    private bool _anyTimedOut;
    private bool _retrying;

    /// <param name="replicator">This node's Akka.DistributedData replicator.</param>
    /// <param name="self">This node.</param>
    /// <param name="writeTimeout">How long a <c>WriteAll</c> waits for the other nodes (<see cref="GatewayClusterOptions.NodeTimeout"/>).</param>
    /// <param name="log">Where it logs.</param>
    internal DirectoryActor(IActorRef replicator, UniqueAddress self, TimeSpan writeTimeout, ILogger<DirectoryActor> log)
    {
        _replicator = replicator;
        _self = self;
        _writeTimeout = writeTimeout;
        _log = log;

        Receive<Publish>(HandlePublish);
        Receive<Withdraw>(HandleWithdraw);
        Receive<FlushWithdrawn>(_ => HandleFlushWithdrawn());
        Receive<UpdateSuccess>(success => Written(success.Request, timedOut: false));
        Receive<UpdateTimeout>(timeout => Written(timeout.Request, timedOut: true));
        Receive<IUpdateResponse>(failure => Written(failure.Request, timedOut: true));
        Receive<ClusterEvent.MemberRemoved>(HandleMemberRemoved);
        Receive<IDeleteResponse>(_ => { });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>The directory actor's props; one per node, named <c>directory</c>.</summary>
    internal static Props Props(IActorRef replicator, UniqueAddress self, TimeSpan writeTimeout, ILogger<DirectoryActor> log) =>
        ActorFactory<DirectoryActor>.Props(() => new DirectoryActor(replicator, self, writeTimeout, log));

    protected override void PostStop() => Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);

    protected override void PreStart()
    {
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.MemberRemoved));

        // Every bucket gets the marker: a peer that has this node's bucket knows what it holds; one that has
        // not (yet) includes this node in every call.
        for (var bucket = 0; bucket < OwnerDirectory.Buckets; bucket++)
        {
            _replicator.Tell(Dsl.Update(OwnerDirectory.KeyOf(_self, bucket), ORSet<string>.Empty, WriteLocal.Instance, Marker.Instance, set => set.Add(_self, OwnerDirectory.Marker)));
        }
    }

    /// <summary>
    /// A node incarnation that left or was downed never writes its keys again (a restart gets a new uid): the
    /// nodes delete them (every node, so no removal is missed when leadership moves; a delete is idempotent), so
    /// replicas do not carry every dead incarnation's entries forever.
    /// </summary>
    private void HandleMemberRemoved(ClusterEvent.MemberRemoved removed)
    {
        if (removed.Member.UniqueAddress.Equals(_self))
        {
            return;
        }

        for (var bucket = 0; bucket < OwnerDirectory.Buckets; bucket++)
        {
            _replicator.Tell(Dsl.Delete(OwnerDirectory.KeyOf(removed.Member.UniqueAddress, bucket), WriteLocal.Instance));
        }
    }

    private void HandlePublish(Publish publish)
    {
        foreach (var entry in publish.Entries)
        {
            _held[entry] = _held.GetValueOrDefault(entry) + 1;
            _withdrawn.Remove(entry);
        }

        var unconfirmed = publish.Entries.Where(entry => !_confirmed.Contains(entry)).ToList();
        if (unconfirmed.Count == 0)
        {
            Sender.Tell(new Published(publish.Token));
            return;
        }

        // Entries the write in flight already carries need no second write: its acknowledgement covers them.
        if (_inFlightWrites > 0 && unconfirmed.All(_inFlightEntries.Contains))
        {
            _inFlightWaiters.Add((Sender, publish.Token, publish.Entries));
            return;
        }

        _pending.UnionWith(unconfirmed);
        _waiting.Add((Sender, publish.Token, publish.Entries));
        WriteIfIdle();
    }

    private void HandleWithdraw(Withdraw withdraw)
    {
        foreach (var entry in withdraw.Entries)
        {
            if (_held.TryGetValue(entry, out var count) && --count > 0)
            {
                _held[entry] = count;
                continue;
            }

            _held.Remove(entry);
            _withdrawn.Add(entry);
        }

        if (_withdrawn.Count > 0 && !Timers.IsTimerActive(FlushWithdrawn.Instance))
        {
            Timers.StartSingleTimer(FlushWithdrawn.Instance, FlushWithdrawn.Instance, Linger);
        }
    }

    private void HandleFlushWithdrawn()
    {
        // Held again since, or still being written: leave it.
        _withdrawn.RemoveWhere(_held.ContainsKey);
        var gone = _withdrawn.Where(entry => !_inFlightEntries.Contains(entry)).ToList();
        _withdrawn.ExceptWith(gone);
        if (_withdrawn.Count > 0)
        {
            Timers.StartSingleTimer(FlushWithdrawn.Instance, FlushWithdrawn.Instance, Linger);
        }

        foreach (var group in gone.GroupBy(OwnerDirectory.BucketOf))
        {
            var entries = group.ToList();
            _confirmed.ExceptWith(entries);
            _replicator.Tell(Dsl.Update(OwnerDirectory.KeyOf(_self, group.Key), ORSet<string>.Empty, WriteLocal.Instance, Marker.Instance, set =>
            {
                foreach (var entry in entries)
                {
                    set = set.Remove(_self, entry);
                }

                return set;
            }));
        }
    }

    private void WriteIfIdle()
    {
        if (_inFlightWrites > 0 || _pending.Count == 0)
        {
            return;
        }

        _inFlightEntries = [.. _pending];
        _pending.Clear();
        _inFlightWaiters = [.. _waiting];
        _waiting.Clear();
        _retrying = false;
        WriteInFlight();
    }

    /// <summary>Writes the entries in flight with <c>WriteAll</c>, one update per bucket.</summary>
    private void WriteInFlight()
    {
        _anyTimedOut = false;
        var consistency = new WriteAll(_writeTimeout);
        foreach (var group in _inFlightEntries.GroupBy(OwnerDirectory.BucketOf))
        {
            var entries = group.ToList();
            _inFlightWrites++;
            _replicator.Tell(Dsl.Update(OwnerDirectory.KeyOf(_self, group.Key), ORSet<string>.Empty, consistency, Batch.Instance, set =>
            {
                foreach (var entry in entries)
                {
                    set = set.Add(_self, entry);
                }

                return set;
            }));
        }
    }

    private void Written(object? request, bool timedOut)
    {
        if (request is not Batch)
        {
            return;
        }

        _anyTimedOut |= timedOut;
        if (--_inFlightWrites > 0)
        {
            return;
        }

        if (_anyTimedOut && !_retrying)
        {
            // Not every node acknowledged: one is slow (a GC pause, a starved CPU) or joined meanwhile. A node that
            // lacks these entries would route past the new socket, so write once more before announcing: by then a
            // node that is gone has been marked unreachable and WriteAll no longer waits for it. Two attempts stay
            // within the registration timeout (10 s) at the default node timeout (3 s).
            Log.WriteTimedOut(_log, _inFlightEntries.Count, _writeTimeout.TotalMilliseconds);
            _retrying = true;
            WriteInFlight();
            return;
        }

        if (_anyTimedOut)
        {
            // Still not acknowledged by every node: announce anyway (the connection must not wait forever), and
            // write these entries again with the next publish. docs/cluster.md names this window.
            Log.WriteTimedOut(_log, _inFlightEntries.Count, _writeTimeout.TotalMilliseconds);
        }
        else
        {
            _confirmed.UnionWith(_inFlightEntries);
        }

        foreach (var (replyTo, token, _) in _inFlightWaiters)
        {
            replyTo.Tell(new Published(token));
        }

        _inFlightWaiters = [];
        _inFlightEntries = new(StringComparer.Ordinal);
        WriteIfIdle();
    }

    private sealed class Batch
    {
        public static readonly Batch Instance = new();
    }

    private sealed class Marker
    {
        public static readonly Marker Instance = new();
    }

    private sealed class FlushWithdrawn
    {
        public static readonly FlushWithdrawn Instance = new();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1110, Level = LogLevel.Debug, Message = "Directory write of {Entries} entries was not acknowledged by every node within {TimeoutMs} ms")]
        public static partial void WriteTimedOut(ILogger logger, int entries, double timeoutMs);
    }
}
