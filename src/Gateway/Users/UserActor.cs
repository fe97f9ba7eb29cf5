using Akka.Actor;
using Gateway.Connections;
using Gateway.Hosting;
using static Gateway.Users.UserProtocol;

namespace Gateway.Users;

/// <summary>
/// Supervises the connections a user opened. Created by the registry on the user's first
/// connection and stopped by it after the last one ends. A failing connection is stopped, never
/// restarted (a socket cannot be reopened), and never takes its siblings with it.
/// </summary>
public sealed partial class UserActor : ReceiveActor
{
    private static readonly SupervisorStrategy ConnectionStrategy = new OneForOneStrategy(static _ => Directive.Stop);

    private readonly string _user;
    private readonly IActorRef _registry;
    private readonly IActorRef _callbacks;
    private readonly ConnectionSettings _tapr;
    private readonly ConnectionSettings _jac;
    private readonly ILogger _log;
    private long _attached;
    private int _children;

    internal UserActor(string user, IActorRef registry, IActorRef callbacks, ConnectionSettings tapr, ConnectionSettings jac, ILogger<UserActor> log)
    {
        _user = user;
        _registry = registry;
        _callbacks = callbacks;
        _tapr = tapr with { Registry = registry };
        _jac = jac with { Registry = registry };
        _log = log;

        Receive<AttachConnection>(HandleAttach);
        Receive<AbandonConnection>(abandon => Context.Stop(Context.Child(abandon.Id.Value)));
        Receive<ConnectionEnded>(HandleConnectionEnded);
        Receive<CheckIdle>(_ => CheckIdle());
    }

    internal static Props Props(string user, IActorRef registry, IActorRef callbacks, ConnectionSettings tapr, ConnectionSettings jac, ILogger<UserActor> log) =>
        ActorFactory<UserActor>.Props(() => new UserActor(user, registry, callbacks, tapr, jac, log));

    protected override SupervisorStrategy SupervisorStrategy() => ConnectionStrategy;

    private void HandleAttach(AttachConnection attach)
    {
        _attached++;
        var identity = attach.Identity;
        var settings = identity.Dialect == Dialect.Tapr ? _tapr : _jac;
        IActorRef connection;
        try
        {
            connection = Context.ActorOf(ConnectionActor.Props(identity, attach.Outbox, attach.Flow, _callbacks, settings), identity.Id.Value);
        }
        catch (InvalidActorNameException exception)
        {
            // The registry refuses a duplicate id before it gets here; never replace a live connection.
            Log.DuplicateConnectionId(_log, identity.Id.Value, exception.Message);
            Sender.Tell(new Status.Failure(exception));
            CheckIdle();
            return;
        }

        _children++;
        Context.WatchWith(connection, new ConnectionEnded(identity.Id));
        Sender.Tell(new ConnectionAttached(connection));
    }

    private void HandleConnectionEnded(ConnectionEnded ended)
    {
        _children--;
        _registry.Tell(ended);
        CheckIdle();
    }

    private void CheckIdle()
    {
        if (_children == 0)
        {
            _registry.Tell(new UserIdle(_user, _attached));
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 300, Level = LogLevel.Warning, Message = "Refusing connection {ConnectionId}: {Reason}")]
        public static partial void DuplicateConnectionId(ILogger logger, string connectionId, string reason);
    }
}
