using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Faults;

/// <summary>
/// A gateway that retries quickly (50 ms doubling to 500 ms), so that app faults play out in a test's time, and
/// gives up on one callback attempt only after 10 s, so that a stall of a loaded machine is never taken for a slow
/// app. Specs about the timeout itself start their own gateway with <see cref="ShortTimeout"/>. Tests sharing it
/// script the app and put it back as they found it.
/// </summary>
public sealed class FaultsGatewayFixture : GatewayFixture
{
    /// <summary>The callback attempt timeout it is started with.</summary>
    public static readonly TimeSpan CallbackTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The attempt timeout of the gateways that specs about timing out start for themselves.</summary>
    public static readonly TimeSpan ShortTimeout = TimeSpan.FromSeconds(1);

    /// <summary>This fixture's settings with <paramref name="timeout"/> as the attempt timeout.</summary>
    public static void Configure(GatewayProcessOptions options, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(options);
        options
            .With("Callback", "Timeout", timeout.ToString("c", System.Globalization.CultureInfo.InvariantCulture))
            .With("Callback", "RetryBaseDelay", "00:00:00.050")
            .With("Callback", "RetryMaxDelay", "00:00:00.500");
    }

    protected override void Configure(GatewayProcessOptions options) => Configure(options, CallbackTimeout);
}
