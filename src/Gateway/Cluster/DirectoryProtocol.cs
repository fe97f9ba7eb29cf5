namespace Gateway.Cluster;

/// <summary>Messages the <see cref="DirectoryActor"/> understands from its own node's registry, and its replies.</summary>
public static class DirectoryProtocol
{
    /// <summary>
    /// A connection holding <paramref name="Entries"/> registered on this node. The reply, <see cref="Published"/>
    /// with the same <paramref name="Token"/>, comes once every entry is in this node's directory on every
    /// reachable node (or the write timed out): only then may the connection be announced to the app.
    /// </summary>
    internal sealed record Publish(IReadOnlyList<string> Entries, long Token);

    /// <summary>The entries of <see cref="Publish"/> <paramref name="Token"/> are replicated.</summary>
    internal sealed record Published(long Token);

    /// <summary>A connection holding <paramref name="Entries"/> left this node (or changed identity); withdrawn lazily once no connection holds them.</summary>
    internal sealed record Withdraw(IReadOnlyList<string> Entries);
}
