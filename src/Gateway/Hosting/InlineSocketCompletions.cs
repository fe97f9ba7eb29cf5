namespace Gateway.Hosting;

/// <summary>
/// The runtime's <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS</c>, which the gateway turns on unless the environment
/// sets it. With it, a socket operation that completes later (a client frame arriving, the app's answer to a callback,
/// a backed-up send draining) runs its continuation on the runtime's socket event thread, one per core, instead of
/// being handed to the thread pool, which wakes a worker for it. The gateway's continuations there are short and never
/// block: they parse frames and tell actors, and what may wait (an ask, a drain) goes on to the thread pool. Measured:
/// a fifth less CPU per echo round trip, fan-outs unchanged (performance.md, "Eleventh session").
/// </summary>
/// <remarks>
/// The runtime reads the variable once, when the process registers its first socket, so this must run before
/// anything opens one; <c>Program</c> calls it first. Setting the variable to anything but <c>1</c> (e.g. <c>0</c>)
/// keeps the runtime's default, a thread-pool hop per completion.
/// </remarks>
internal static class InlineSocketCompletions
{
    /// <summary>The runtime's variable (System.Net.Sockets, <c>SocketAsyncEngine.Unix.cs</c>); <c>1</c> turns it on.</summary>
    public const string Variable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>Sets <see cref="Variable"/> to <c>1</c> for this process unless the environment already sets it.</summary>
    /// <returns>Whether socket completions run inline from here on (the variable's value is <c>1</c>).</returns>
    public static bool PreferInline()
    {
        if (Environment.GetEnvironmentVariable(Variable) is null)
        {
            Environment.SetEnvironmentVariable(Variable, "1");
        }

        return Environment.GetEnvironmentVariable(Variable) == "1";
    }
}
