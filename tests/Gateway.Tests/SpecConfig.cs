using System.Globalization;
using Akka.Configuration;
using Gateway.Hosting;

namespace Gateway.Tests;

/// <summary>
/// The actor system every spec runs on: the gateway's own Akka settings (its connection mailbox
/// among them), Akka's test time factor taken from <c>GATEWAY_TEST_TIMEFACTOR</c> (for slow
/// machines; every <c>Expect…</c> timeout and <c>Dilated</c> span is multiplied by it), and debug
/// logging of unhandled messages so that specs may assert on them with <c>EventFilter</c>.
/// </summary>
internal static class SpecConfig
{
    /// <summary>The environment variable that scales every timing of the suite (default 1).</summary>
    public const string TimeFactorVariable = "GATEWAY_TEST_TIMEFACTOR";

    /// <summary>Use as <c>: base(SpecConfig.Akka)</c>.</summary>
    public static Config Akka { get; } = ConfigurationFactory.ParseString($$"""
            akka.test.timefactor = {{TimeFactor.ToString(CultureInfo.InvariantCulture)}}
            akka.loglevel = DEBUG
            akka.actor.debug.unhandled = on
            """)
        .WithFallback(AkkaSetup.Defaults(new GatewayOptions()));

    private static double TimeFactor =>
        double.TryParse(Environment.GetEnvironmentVariable(TimeFactorVariable), NumberStyles.Float, CultureInfo.InvariantCulture, out var factor) && factor > 0
            ? factor
            : 1.0;
}
