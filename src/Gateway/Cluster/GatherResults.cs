using Gateway.Connections;
using Gateway.Registry;

namespace Gateway.Cluster;

/// <summary>How the answers of several nodes combine into the one answer an admin call gives.</summary>
internal static class GatherResults
{
    /// <summary>The receipts' matched, enqueued and dropped counts, summed.</summary>
    public static RegistryProtocol.DeliveryReceipt Sum(IEnumerable<RegistryProtocol.DeliveryReceipt> receipts)
    {
        int matched = 0, enqueued = 0, dropped = 0;
        foreach (var receipt in receipts)
        {
            matched += receipt.Matched;
            enqueued += receipt.Enqueued;
            dropped += receipt.Dropped;
        }

        return new RegistryProtocol.DeliveryReceipt(matched, enqueued, dropped);
    }

    /// <summary>The closed counts, summed.</summary>
    public static RegistryProtocol.ConnectionsClosed Sum(IEnumerable<RegistryProtocol.ConnectionsClosed> closed) =>
        new(closed.Sum(static c => c.Count));

    /// <summary>
    /// The nodes' lists merged as one node would list them: users in ordinal order, a user's connections
    /// from all nodes together, by connect time then id; each connection tagged with its node.
    /// </summary>
    public static PeersProtocol.ClusterConnectionList Merge(IEnumerable<(string Node, RegistryProtocol.ConnectionList List)> lists, IEnumerable<string> missing)
    {
        var nodeOf = new Dictionary<ConnectionIdentity, string>(ReferenceEqualityComparer.Instance);
        var users = new SortedDictionary<string, (List<ConnectionIdentity> Private, List<ConnectionIdentity> Public)>(StringComparer.Ordinal);
        foreach (var (node, list) in lists)
        {
            foreach (var user in list.Users)
            {
                if (!users.TryGetValue(user.Name, out var merged))
                {
                    merged = ([], []);
                    users.Add(user.Name, merged);
                }

                foreach (var connection in user.Private)
                {
                    merged.Private.Add(connection);
                    nodeOf[connection] = node;
                }

                foreach (var connection in user.Public)
                {
                    merged.Public.Add(connection);
                    nodeOf[connection] = node;
                }
            }
        }

        var result = new List<RegistryProtocol.UserConnections>(users.Count);
        foreach (var (name, merged) in users)
        {
            merged.Private.Sort(ByConnectTime);
            merged.Public.Sort(ByConnectTime);
            result.Add(new RegistryProtocol.UserConnections(name, merged.Private, merged.Public));
        }

        var missingSorted = missing.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        return new PeersProtocol.ClusterConnectionList(new RegistryProtocol.ConnectionList(result), nodeOf, missingSorted);
    }

    private static int ByConnectTime(ConnectionIdentity a, ConnectionIdentity b) => a.ConnectedAt != b.ConnectedAt
        ? a.ConnectedAt.CompareTo(b.ConnectedAt)
        : string.CompareOrdinal(a.Id.Value, b.Id.Value);
}
