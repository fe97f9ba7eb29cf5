using System.Globalization;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>
/// How long a test waits for something that should happen. Multiplied by
/// <c>GATEWAY_TEST_TIMEFACTOR</c> (default 1) on slow machines; a wait that is met returns at once,
/// so generous values cost nothing on a passing run.
/// </summary>
public static class TestTimeouts
{
    /// <summary>The multiplier from <c>GATEWAY_TEST_TIMEFACTOR</c>.</summary>
    public static double Factor { get; } =
        double.TryParse(Environment.GetEnvironmentVariable("GATEWAY_TEST_TIMEFACTOR"), NumberStyles.Float, CultureInfo.InvariantCulture, out var factor) && factor > 0
            ? factor
            : 1.0;

    /// <summary>Something that should happen promptly (a frame, a callback): 10 s.</summary>
    public static TimeSpan Default => Dilated(TimeSpan.FromSeconds(10));

    /// <summary>A process start or a bulk run: 30 s.</summary>
    public static TimeSpan Long => Dilated(TimeSpan.FromSeconds(30));

    /// <summary>A window in which something must not happen (a second close, a forwarded ping): 300 ms.</summary>
    public static TimeSpan Quiet => Dilated(TimeSpan.FromMilliseconds(300));

    /// <summary><paramref name="span"/> times <see cref="Factor"/>.</summary>
    public static TimeSpan Dilated(TimeSpan span) => span * Factor;
}
