using Akka.Actor;
using Akka.Cluster;
using Akka.DistributedData;
using Gateway.Registry;

namespace Gateway.Cluster;

/// <summary>
/// The replicated directory of which node holds which users and channels, and the routing decision made from
/// it. Each node owns its own entries, split over <see cref="Buckets"/> Akka.DistributedData <c>ORSet</c>s (one
/// key per node and bucket), so that a write carries one bucket, not the node's whole set. Entries are
/// <c>u:&lt;user&gt;</c> and <c>c:&lt;channel&gt;</c>; every bucket of a node that has started also holds
/// <see cref="Marker"/>, so a bucket that is missing from a replica means "not heard from this node yet".
/// Connection ids need no directory: they carry their node's <see cref="NodeTag"/>.
/// </summary>
internal static class OwnerDirectory
{
    /// <summary>How many keys each node's entries are spread over.</summary>
    public const int Buckets = 16;

    /// <summary>Held by every bucket of a node that has published.</summary>
    public const string Marker = "";

    public static string UserEntry(string user) => "u:" + user;

    public static string ChannelEntry(string channel) => "c:" + channel;

    /// <summary>The entries a connection puts in its node's directory.</summary>
    public static IReadOnlyList<string> EntriesOf(Connections.ConnectionIdentity identity) =>
        identity.Channel is null ? [UserEntry(identity.User)] : [UserEntry(identity.User), ChannelEntry(identity.Channel)];

    /// <summary>Which bucket an entry lives in (FNV-1a, stable across processes).</summary>
    public static int BucketOf(string entry)
    {
        var hash = 2166136261;
        foreach (var c in entry)
        {
            hash = (hash ^ c) * 16777619;
        }

        return (int)(hash % Buckets);
    }

    /// <summary>The key of <paramref name="node"/>'s bucket <paramref name="bucket"/> (the uid keeps a restarted node's keys apart).</summary>
    public static ORSetKey<string> KeyOf(UniqueAddress node, int bucket) =>
        new($"gateway-directory/{node.Address.Host}:{node.Address.Port}/{node.Uid}/{bucket}");

    /// <summary>
    /// What a filter needs before it can be routed: <see cref="PlanKind.ByTag"/> for conn ids (no lookup),
    /// <see cref="PlanKind.ByDirectory"/> for users and/or channels (look up <see cref="Plan.Users"/> and
    /// <see cref="Plan.Channels"/>), or <see cref="Plan.Broadcast"/> (every node: tokens only, all, nothing).
    /// </summary>
    public static Plan PlanFor(RegistryProtocol.TargetFilter filter)
    {
        if (filter.ConnIds is { Count: > 0 } ids)
        {
            return ids.All(static id => NodeTag.Read(id) is not null) ? new Plan(PlanKind.ByTag, [], []) : Plan.Broadcast;
        }

        var users = filter.Users is { Count: > 0 } u ? u.Select(UserEntry).ToArray() : [];
        var channels = filter.Channels is { Count: > 0 } c ? c.Select(ChannelEntry).ToArray() : [];
        return users.Length + channels.Length == 0 ? Plan.Broadcast : new Plan(PlanKind.ByDirectory, users, channels);
    }

    /// <summary>
    /// The nodes a filter goes to, or null to broadcast. <paramref name="self"/> is always included (its
    /// registry answers from its live index at no network cost); <paramref name="others"/> are the other
    /// reachable <c>Up</c> nodes with their tags. <paramref name="holds"/> says whether a node holds an entry:
    /// true, false, or null when that node's bucket has not reached this replica (such a node is included).
    /// By directory, a node is a target when it holds (or may hold) an entry of every dimension the filter
    /// gives (users, channels), since a socket matches only if it matches all of them; an entry that no node
    /// holds means a socket may be registering right now (its node's write not yet acknowledged), so the whole
    /// call is broadcast rather than risk missing it.
    /// </summary>
    public static IReadOnlySet<Address>? Decide(
        Plan plan,
        RegistryProtocol.TargetFilter filter,
        (Address Node, string Tag) self,
        IReadOnlyList<(Address Node, string Tag)> others,
        Func<Address, string, bool?> holds)
    {
        var targets = new HashSet<Address> { self.Node };
        switch (plan.Kind)
        {
            case PlanKind.ByTag:
                var tags = filter.ConnIds!.Select(static id => NodeTag.Read(id)!).ToHashSet(StringComparer.Ordinal);
                var unclaimed = new HashSet<string>(tags, StringComparer.Ordinal);
                unclaimed.Remove(self.Tag);
                foreach (var (node, tag) in others)
                {
                    if (tags.Contains(tag))
                    {
                        targets.Add(node);
                        unclaimed.Remove(tag);
                    }
                }

                // A tag no reachable node claims: an id minted by a node this one does not see as Up yet, or by a
                // version that did not tag its ids (a rolling upgrade). Broadcast rather than miss its socket.
                return unclaimed.Count == 0 ? targets : null;
            case PlanKind.ByDirectory:
                var held = plan.Users.Concat(plan.Channels).ToDictionary(static e => e, static _ => false, StringComparer.Ordinal);
                foreach (var (node, _) in others)
                {
                    if (HoldsAny(node, plan.Users) && HoldsAny(node, plan.Channels))
                    {
                        targets.Add(node);
                    }
                }

                // Entries held by self count as known: its registry looks at its live index anyway.
                foreach (var entry in held.Keys.ToList())
                {
                    held[entry] = holds(self.Node, entry) == true || others.Any(o => holds(o.Node, entry) != false);
                }

                return held.Values.All(static known => known) ? targets : null;
            default:
                return null;
        }

        bool HoldsAny(Address node, IReadOnlyList<string> entries) => entries.Count == 0 || entries.Any(entry => holds(node, entry) != false);
    }

    /// <summary>How a filter is routed.</summary>
    public enum PlanKind
    {
        Broadcast,
        ByTag,
        ByDirectory,
    }

    /// <summary>A routing plan: its kind and, by directory, the user and channel entries to look up.</summary>
    public sealed record Plan(PlanKind Kind, IReadOnlyList<string> Users, IReadOnlyList<string> Channels)
    {
        public static readonly Plan Broadcast = new(PlanKind.Broadcast, [], []);

        /// <summary>Every entry to look up, user and channel.</summary>
        public IEnumerable<string> Entries => Users.Concat(Channels);
    }

    /// <summary>A node's bucket as this replica has it: null when it has not arrived yet.</summary>
    public static bool? Holds(ORSet<string>? bucket, string entry) => bucket?.Contains(entry);
}
