using Akka.Actor;
using Gateway.Hosting;
using Gateway.Registry;

namespace Gateway.Cluster;

/// <summary>
/// One cluster-wide admin call: sends the registry command to the peers actor of every target node at once,
/// collects one answer per node, and replies with the combined answer (<see cref="GatherResults"/>) when
/// every node has answered, when the remaining ones are lost (<see cref="PeersProtocol.NodeLost"/>: named missing) or
/// left (<see cref="PeersProtocol.NodeLeft"/>: not missing, it holds no connection), or at
/// the deadline, whichever comes first; then stops. A node that does not answer is left out, never waited
/// on past the deadline.
/// </summary>
internal sealed class ScatterGatherActor : ReceiveActor
{
    private readonly object _command;
    private readonly IReadOnlyDictionary<Address, ICanTell> _targets;
    private readonly Func<IActorRef, Address> _nodeOf;
    private readonly IActorRef _replyTo;
    private readonly TimeSpan _timeout;
    private readonly HashSet<Address> _pending = [];
    private readonly List<string> _missing;
    private readonly List<(string Node, object Answer)> _answers = [];
    private ICancelable? _deadline;

    /// <param name="command">The registry command each node runs (<see cref="RegistryProtocol.SendToConnections"/>, <see cref="RegistryProtocol.CloseConnections"/> or <see cref="RegistryProtocol.GetConnections"/>).</param>
    /// <param name="targets">Each target node and where its peers actor is.</param>
    /// <param name="nodeOf">Which node an answer's sender is on.</param>
    /// <param name="replyTo">Who gets the combined answer.</param>
    /// <param name="timeout">The most it waits for any node.</param>
    /// <param name="missing">Nodes already known to be left out (unreachable).</param>
    public ScatterGatherActor(object command, IReadOnlyDictionary<Address, ICanTell> targets, Func<IActorRef, Address> nodeOf, IActorRef replyTo, TimeSpan timeout, IEnumerable<string> missing)
    {
        _command = command;
        _targets = targets;
        _nodeOf = nodeOf;
        _replyTo = replyTo;
        _timeout = timeout;
        _missing = [.. missing];

        Receive<RegistryProtocol.DeliveryReceipt>(Answer);
        Receive<RegistryProtocol.ConnectionsClosed>(Answer);
        Receive<RegistryProtocol.ConnectionList>(Answer);
        Receive<PeersProtocol.NodeLost>(lost =>
        {
            if (_pending.Remove(lost.Node))
            {
                _missing.Add(lost.Node.ToString());
                CompleteIfDone();
            }
        });
        Receive<PeersProtocol.NodeLeft>(left =>
        {
            if (_pending.Remove(left.Node))
            {
                CompleteIfDone();
            }
        });
        Receive<Deadline>(_ =>
        {
            _missing.AddRange(_pending.Select(static node => node.ToString()));
            _pending.Clear();
            CompleteIfDone();
        });
    }

    public static Props Props(object command, IReadOnlyDictionary<Address, ICanTell> targets, Func<IActorRef, Address> nodeOf, IActorRef replyTo, TimeSpan timeout, IEnumerable<string> missing) =>
        ActorFactory<ScatterGatherActor>.Props(() => new ScatterGatherActor(command, targets, nodeOf, replyTo, timeout, missing));

    protected override void PreStart()
    {
        foreach (var (node, target) in _targets)
        {
            _pending.Add(node);
            target.Tell(_command, Self);
        }

        _deadline = Context.System.Scheduler.ScheduleTellOnceCancelable(_timeout, Self, Deadline.Instance, Self);
        CompleteIfDone();
    }

    protected override void PostStop() => _deadline?.Cancel();

    private void Answer(object answer)
    {
        var node = _nodeOf(Sender);
        if (_pending.Remove(node))
        {
            _answers.Add((node.ToString(), answer));
            CompleteIfDone();
        }
    }

    private void CompleteIfDone()
    {
        if (_pending.Count > 0)
        {
            return;
        }

        object reply = _command switch
        {
            RegistryProtocol.SendToConnections => GatherResults.Sum(_answers.Select(static a => (RegistryProtocol.DeliveryReceipt)a.Answer)),
            RegistryProtocol.CloseConnections => GatherResults.Sum(_answers.Select(static a => (RegistryProtocol.ConnectionsClosed)a.Answer)),
            _ => GatherResults.Merge(_answers.Select(static a => (a.Node, (RegistryProtocol.ConnectionList)a.Answer)), _missing),
        };
        _replyTo.Tell(reply);
        Context.Stop(Self);
    }

    private sealed class Deadline
    {
        public static readonly Deadline Instance = new();
    }
}
