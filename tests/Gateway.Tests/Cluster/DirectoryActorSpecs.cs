using Akka.Cluster;
using Akka.Configuration;
using Akka.DistributedData;
using Gateway.Cluster;
using static Gateway.Cluster.DirectoryProtocol;

namespace Gateway.Tests.Cluster;

/// <summary>
/// How a node writes its part of the directory: a connection's entries are in the replica before it is
/// announced, a reconnect within the linger costs no write, and entries nobody holds leave after the linger.
/// Runs on a real one-node cluster with Akka.DistributedData.
/// </summary>
public sealed class DirectoryActorSpecs : TestKit
{
    private static readonly Config ClusterConfig = ConfigurationFactory.ParseString("""
        akka.actor.provider = cluster
        akka.remote.dot-netty.tcp.hostname = 127.0.0.1
        akka.remote.dot-netty.tcp.port = 0
        """).WithFallback(DistributedData.DefaultConfig());

    private readonly IActorRef _replicator;
    private readonly UniqueAddress _self;

    public DirectoryActorSpecs()
        : base(ClusterConfig.WithFallback(SpecConfig.Akka))
    {
        var cluster = Akka.Cluster.Cluster.Get(Sys);
        cluster.Join(cluster.SelfAddress);
        _self = cluster.SelfUniqueAddress;
        _replicator = DistributedData.Get(Sys).Replicator;
    }

    [Fact]
    public async Task A_published_entry_is_in_the_replica_when_the_reply_comes()
    {
        var directory = Sys.ActorOf(DirectoryActor.Props(_replicator, _self, TimeSpan.FromSeconds(3), NullLogger<DirectoryActor>.Instance));

        directory.Tell(new Publish([OwnerDirectory.UserEntry("alice"), OwnerDirectory.ChannelEntry("lobby")], 7));

        Assert.Equal(7, (await ExpectMsgAsync<Published>(TimeSpan.FromSeconds(20))).Token);
        Assert.True(await HoldsAsync(OwnerDirectory.UserEntry("alice")));
        Assert.True(await HoldsAsync(OwnerDirectory.ChannelEntry("lobby")));
        Assert.False(await HoldsAsync(OwnerDirectory.UserEntry("bob")));
    }

    [Fact]
    public async Task An_entry_nobody_holds_leaves_after_the_linger_unless_held_again()
    {
        var directory = Sys.ActorOf(DirectoryActor.Props(_replicator, _self, TimeSpan.FromSeconds(3), NullLogger<DirectoryActor>.Instance));
        directory.Tell(new Publish([OwnerDirectory.UserEntry("alice")], 1));
        directory.Tell(new Publish([OwnerDirectory.UserEntry("bob")], 2));
        await ExpectMsgAsync<Published>(TimeSpan.FromSeconds(20));
        await ExpectMsgAsync<Published>(TimeSpan.FromSeconds(20));

        directory.Tell(new Withdraw([OwnerDirectory.UserEntry("alice")]));
        directory.Tell(new Withdraw([OwnerDirectory.UserEntry("bob")]));

        // Bob reconnects at once: already published, so announced without a write.
        directory.Tell(new Publish([OwnerDirectory.UserEntry("bob")], 3));
        Assert.Equal(3, (await ExpectMsgAsync<Published>()).Token);
        await AwaitConditionAsync(async () => !await HoldsAsync(OwnerDirectory.UserEntry("alice")), TimeSpan.FromSeconds(10));
        Assert.True(await HoldsAsync(OwnerDirectory.UserEntry("bob")));
    }

    private async Task<bool> HoldsAsync(string entry)
    {
        var key = OwnerDirectory.KeyOf(_self, OwnerDirectory.BucketOf(entry));
        var response = await _replicator.Ask<IGetResponse>(Dsl.Get(key, ReadLocal.Instance), TimeSpan.FromSeconds(5));
        return response.IsSuccessful && response.Get(key).Contains(entry);
    }
}
