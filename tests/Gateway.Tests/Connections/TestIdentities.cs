using Gateway.Connections;
using Gateway.WebSockets;

namespace Gateway.Tests.Connections;

/// <summary>Identities and flows for specs; connection times increase with each identity made, so list order is creation order.</summary>
internal static class TestIdentities
{
    private static long _clock;

    public static ConnectionIdentity Tapr(
        string id,
        string user = "alice",
        string? token = null,
        bool accessPublic = false,
        string userAgent = "test-agent",
        string cookie = "",
        string? channel = null) =>
        new(new ConnectionId(id), Dialect.Tapr, user, token ?? "token-" + id, accessPublic, userAgent, cookie, channel, NextConnectedAt());

    public static ConnectionIdentity Jac(string id, string root = "n::root", string channel = "channel-1", string token = "") =>
        new(new ConnectionId(id), Dialect.Jac, root, token, token.Length == 0, "jac-agent", string.Empty, channel, NextConnectedAt());

    /// <summary>A flow whose bounds specs do not reach unless they mean to.</summary>
    public static InboundFlow Flow(long limit = 1 << 20) => new(limit, new InboundBudget(1L << 30));

    private static DateTimeOffset NextConnectedAt() =>
        new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero).AddMilliseconds(Interlocked.Increment(ref _clock));
}
