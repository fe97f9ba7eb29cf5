namespace Gateway.Hosting;

/// <summary>
/// The runtime's <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS</c>, which the gateway turns on unless the environment
/// sets it. With it, a socket operation that completes later (a client's frame arriving on the lean transport, the app's
/// answer to a callback, the flush of a backed-up send) continues on the runtime's socket event thread, one per core,
/// instead of being queued to the thread pool for a worker to pick up. What the gateway runs there is short and never
/// waits: frame parsing, small messages' validation and dialect parse, handshakes, and tells to actors; a read of
/// 64 KiB or more is processed on the thread pool (<c>WebSocketConnection</c>), and the console logger drops lines
/// rather than block (<c>AddGateway</c>). Measured in performance.md, "Eleventh session".
/// </summary>
/// <remarks>
/// The runtime reads the variable once, when the process creates its first socket, so this must run before anything
/// creates one; <c>Program</c> calls it first. Setting the variable to anything but <c>1</c> (e.g. <c>0</c>) keeps the
/// runtime's default.
/// </remarks>
internal static class InlineSocketCompletions
{
    /// <summary>The runtime's variable (System.Net.Sockets, <c>SocketAsyncEngine.Unix.cs</c>); <c>1</c> turns it on.</summary>
    public const string Variable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>Sets <see cref="Variable"/> to <c>1</c> for this process unless the environment already sets it.</summary>
    public static void PreferInline()
    {
        if (Environment.GetEnvironmentVariable(Variable) is null)
        {
            Environment.SetEnvironmentVariable(Variable, "1");
        }
    }
}
