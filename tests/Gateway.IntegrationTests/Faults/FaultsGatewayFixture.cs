using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Faults;

/// <summary>
/// A gateway that gives up on one callback attempt after 1 s and retries quickly (50 ms doubling to
/// 500 ms), so that app faults play out in a test's time. Tests sharing it script the app and put
/// it back as they found it.
/// </summary>
public sealed class FaultsGatewayFixture : GatewayFixture
{
    /// <summary>The callback attempt timeout it is started with.</summary>
    public static readonly TimeSpan CallbackTimeout = TimeSpan.FromSeconds(1);

    protected override void Configure(GatewayProcessOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options
            .With("Callback", "Timeout", "00:00:01")
            .With("Callback", "RetryBaseDelay", "00:00:00.050")
            .With("Callback", "RetryMaxDelay", "00:00:00.500");
    }
}
