using Gateway.Registry;
using Gateway.Tests.Connections;
using Gateway.Tests.WebSockets;
using static Gateway.Registry.RegistryProtocol;

namespace Gateway.Tests.Registry;

public sealed class ConnectionIndexSpecs
{
    // Arrays of 85,000 bytes or more go to the large object heap, whose budget, once used up, starts a full
    // blocking collection: under fan-out load every few dozen sends did. A send to this many connections must
    // not build one; the specs hold the whole enumeration below that size.
    private const int Connections = 20_000;
    private const int LargeObjectBytes = 85_000;

    [Fact]
    public void Resolving_a_send_to_every_user_of_twenty_thousand_connections_builds_no_large_object()
    {
        var index = new ConnectionIndex();
        var users = Enumerable.Range(0, 100).Select(u => "user-" + u).ToArray();
        for (var i = 0; i < Connections; i++)
        {
            index.Add(new IndexedConnection(TestIdentities.Tapr("c" + i, user: users[i % users.Length], token: "t" + i), new RecordingOutbox()));
        }

        var filter = new TargetFilter(Users: new HashSet<string>(users, StringComparer.Ordinal));
        Assert.Equal(Connections, index.Resolve(filter).Count()); // compiles and warms the path first

        var before = GC.GetAllocatedBytesForCurrentThread();
        var matched = 0;
        foreach (var connection in index.Resolve(filter))
        {
            matched++;
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(Connections, matched);
        Assert.True(allocated < LargeObjectBytes, $"resolving {Connections} targets allocated {allocated} B");
    }

    [Fact]
    public void Resolving_every_connection_of_a_close_all_builds_no_large_object()
    {
        var index = new ConnectionIndex();
        for (var i = 0; i < Connections; i++)
        {
            index.Add(new IndexedConnection(TestIdentities.Tapr("c" + i, user: "u" + (i % 7)), new RecordingOutbox()));
        }

        var filter = new TargetFilter(All: true);
        Assert.Equal(Connections, index.Resolve(filter).Count());

        var before = GC.GetAllocatedBytesForCurrentThread();
        var matched = index.Resolve(filter).Count();

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(Connections, matched);
        Assert.True(allocated < LargeObjectBytes, $"resolving {Connections} targets allocated {allocated} B");
    }
}
