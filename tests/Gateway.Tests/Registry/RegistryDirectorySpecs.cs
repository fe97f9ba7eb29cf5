using Gateway.Cluster;
using Gateway.Connections;
using Gateway.Registry;
using Gateway.Tests.Connections;
using Gateway.Tests.WebSockets;
using Gateway.Users;
using Gateway.WebSockets;
using static Gateway.Registry.RegistryProtocol;

namespace Gateway.Tests.Registry;

/// <summary>
/// Cluster mode: a new socket is announced (attached, so its app hears <c>open</c>) only once its node's directory
/// has published its user and channel; until then its own node's sends already reach it.
/// </summary>
public sealed class RegistryDirectorySpecs : TestKit
{
    private static readonly ConnectionSettings NoDeadline = new(null, AnyFrameIsLiveness: true);

    private readonly TestProbe _directory;
    private readonly IActorRef _registry;

    public RegistryDirectorySpecs()
        : base(SpecConfig.Akka)
    {
        _directory = CreateTestProbe("directory");
        _registry = Sys.ActorOf(RegistryActor.Props(CreateTestProbe("callbacks").Ref, NoDeadline, NoDeadline, NullLoggerFactory.Instance), "registry");
        _registry.Tell(new UsePeers(CreateTestProbe("peers").Ref, _directory.Ref));
    }

    [Fact]
    public async Task A_new_connection_is_attached_only_after_its_user_and_channel_are_published()
    {
        var outbox = new RecordingOutbox();
        _registry.Tell(new RegisterConnection(TestIdentities.Jac("j1", root: "n::alice", channel: "lobby"), outbox, TestIdentities.Flow()), TestActor);

        var publish = await _directory.ExpectMsgAsync<DirectoryProtocol.Publish>();
        Assert.Equal([OwnerDirectory.UserEntry("n::alice"), OwnerDirectory.ChannelEntry("lobby")], publish.Entries);
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300));

        // Indexed already: a send on this node reaches it while the directory write is in flight.
        _registry.Tell(new SendToConnections(new TargetFilter(Users: ["n::alice"]), OutboundMessage.Text("early")), TestActor);
        Assert.Equal(new DeliveryReceipt(1, 1, 0), await ExpectMsgAsync<DeliveryReceipt>());

        _directory.Reply(new DirectoryProtocol.Published(publish.Token));
        Assert.Equal("j1", (await ExpectMsgAsync<UserProtocol.ConnectionAttached>()).Connection.Path.Name);
    }

    [Fact]
    public async Task An_ended_connection_withdraws_its_entries()
    {
        _registry.Tell(new RegisterConnection(TestIdentities.Tapr("c1", user: "bob"), new RecordingOutbox(), TestIdentities.Flow()), TestActor);
        var publish = await _directory.ExpectMsgAsync<DirectoryProtocol.Publish>();
        _directory.Reply(new DirectoryProtocol.Published(publish.Token));
        var attached = await ExpectMsgAsync<UserProtocol.ConnectionAttached>();

        Sys.Stop(attached.Connection);

        Assert.Equal([OwnerDirectory.UserEntry("bob")], (await _directory.ExpectMsgAsync<DirectoryProtocol.Withdraw>()).Entries);
    }

    [Fact]
    public async Task A_connection_abandoned_while_its_entries_are_being_published_is_unregistered()
    {
        _registry.Tell(new RegisterConnection(TestIdentities.Tapr("c2", user: "carol"), new RecordingOutbox(), TestIdentities.Flow()), TestActor);
        var publish = await _directory.ExpectMsgAsync<DirectoryProtocol.Publish>();

        _registry.Tell(new AbandonConnection(new ConnectionId("c2")));

        Assert.Equal([OwnerDirectory.UserEntry("carol")], (await _directory.ExpectMsgAsync<DirectoryProtocol.Withdraw>()).Entries);
        _registry.Tell(GetStats.Instance, TestActor);
        Assert.Equal(0, (await ExpectMsgAsync<RegistryStats>()).Connections);

        // A late answer from the directory attaches nothing.
        _directory.Reply(new DirectoryProtocol.Published(publish.Token));
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300));

        // The user actor made for that connection alone does not stay behind.
        await AwaitAssertAsync(async () =>
        {
            _registry.Tell(GetStats.Instance, TestActor);
            Assert.Equal(new RegistryStats(0, 0, 0), await ExpectMsgAsync<RegistryStats>());
        });
    }
}
