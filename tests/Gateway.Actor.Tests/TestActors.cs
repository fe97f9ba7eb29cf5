namespace Gateway.Tests.Actor;

/// <summary>Replies to every message with the message itself.</summary>
public sealed class EchoActor : ReceiveActor
{
    public EchoActor() => ReceiveAny(message => Sender.Tell(message));
}

/// <summary>Reports its lifecycle hooks to a probe: "prestart", "poststop", "prerestart", "postrestart".</summary>
public sealed class LifecycleReporter : ReceiveActor
{
    private readonly IActorRef _probe;
    private readonly string _id;
    private int _state;

    public LifecycleReporter(IActorRef probe, string id)
    {
        _probe = probe;
        _id = id;
        Receive<string>(s => s == "fail", _ => throw new InvalidOperationException("boom"));
        Receive<string>(s => s == "fail-arg", _ => throw new ArgumentException("bad"));
        Receive<string>(s => s == "inc", _ => _state++);
        Receive<string>(s => s == "state", _ => Sender.Tell(_state));
        Receive<Props>(props => Sender.Tell(Context.ActorOf(props)));
        ReceiveAny(message => _probe.Tell(message));
    }

    protected override void PreStart() => _probe.Tell($"{_id}:prestart");

    protected override void PostStop() => _probe.Tell($"{_id}:poststop");

    protected override void PreRestart(Exception reason, object? message)
    {
        _probe.Tell($"{_id}:prerestart:{message}");
        base.PreRestart(reason, message);
    }

    protected override void PostRestart(Exception reason)
    {
        _probe.Tell($"{_id}:postrestart:{reason.Message}");
        base.PostRestart(reason);
    }
}

/// <summary>A parent whose strategy is given: creates children on request.</summary>
public sealed class Supervisor : ReceiveActor
{
    private readonly SupervisorStrategy _strategy;

    public Supervisor(SupervisorStrategy strategy)
    {
        _strategy = strategy;
        Receive<(Props Props, string Name)>(request => Sender.Tell(Context.ActorOf(request.Props, request.Name)));
        Receive<Props>(props => Sender.Tell(Context.ActorOf(props)));
    }

    protected override SupervisorStrategy SupervisorStrategy() => _strategy;
}
