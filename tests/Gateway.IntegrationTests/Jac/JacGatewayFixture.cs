using System.Globalization;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Jac;

/// <summary>A gateway whose jac dialect validates tokens with <see cref="JacTokens.Secret"/>; otherwise defaults.</summary>
public sealed class JacGatewayFixture : GatewayFixture
{
    protected override void Configure(GatewayProcessOptions options) => options.With("Jac", "TokenSecret", JacTokens.Secret);
}

/// <summary>The jac tests that share one <see cref="JacGatewayFixture"/>; they run one after another.</summary>
[CollectionDefinition(Name)]
public sealed class JacGatewayCollection : ICollectionFixture<JacGatewayFixture>
{
    public const string Name = "Jac gateway";
}

/// <summary>
/// A jac gateway with a short walker timeout and a shorter callback attempt timeout, so that a walker
/// slower than one ordinary attempt but within the walker timeout is distinguishable from one beyond it.
/// Its app is scripted per test (walker answers), so it has an app of its own.
/// </summary>
public sealed class JacWalkerFixture : GatewayFixture
{
    /// <summary><c>Gateway__Jac__WalkerTimeout</c>.</summary>
    /// <remarks>Four seconds more than the slow walker's answer takes: room for a stall of a loaded machine.</remarks>
    public static TimeSpan WalkerTimeout => TestTimeouts.Dilated(TimeSpan.FromSeconds(6));

    /// <summary><c>Gateway__Callback__Timeout</c>: one ordinary callback attempt.</summary>
    public static TimeSpan AttemptTimeout => TestTimeouts.Dilated(TimeSpan.FromSeconds(1));

    protected override void Configure(GatewayProcessOptions options) => options
        .With("Jac", "TokenSecret", JacTokens.Secret)
        .With("Jac", "WalkerTimeout", WalkerTimeout.ToString("c", CultureInfo.InvariantCulture))
        .With("Callback", "Timeout", AttemptTimeout.ToString("c", CultureInfo.InvariantCulture));
}

/// <summary>The walker tests sharing one <see cref="JacWalkerFixture"/>.</summary>
[CollectionDefinition(Name)]
public sealed class JacWalkerCollection : ICollectionFixture<JacWalkerFixture>
{
    public const string Name = "Jac gateway with a short walker timeout";
}

/// <summary>
/// A jac gateway configured away from its defaults: another path, another root id claim and secret, Kestrel's HTTP
/// upgrade path, and a one-second TAPR ping deadline (which jac connections must not be subject to).
/// </summary>
public sealed class JacOptionsFixture : GatewayFixture
{
    public const string Path = "/jac/socket";
    public const string Secret = "another secret, of another length";

    protected override void Configure(GatewayProcessOptions options) => options
        .With("Jac", "Path", Path)
        .With("Jac", "RootIdClaim", "sub")
        .With("Jac", "TokenSecret", Secret)
        .With("Sockets", "LeanPath", "false")
        .With("Tapr", "PingTimeout", "00:00:01");
}
