using Gateway.Hosting;

namespace Gateway.Tests.Hosting;

/// <summary>The ranges <see cref="GatewayOptionsValidator"/> checks at start (docs/configuration.md, "Checked at start").</summary>
public sealed class GatewayOptionsValidatorSpecs
{
    private readonly GatewayOptionsValidator _validator = new();

    [Fact]
    public void Every_default_is_in_range()
    {
        var result = _validator.Validate(null, new GatewayOptions());

        Assert.True(result.Succeeded, result.FailureMessage);
    }

    [Fact]
    public void Each_setting_out_of_range_is_named_with_its_section()
    {
        var options = new GatewayOptions();
        options.Jac.Path = "";
        options.Jac.KeepAliveTimeout = TimeSpan.Zero;
        options.Limits.OutboundQueueBytes = 0;
        options.Tapr.ConnIdFormat = "ulid";
        options.Limits.MaxConnections = int.MaxValue; // plus the admin headroom would wrap
        options.Admin.Port = 70_000;
        options.Callback.RetryMaxDelay = TimeSpan.FromDays(30); // past what a timer takes
        options.Cluster.RequiredContactPoints = 0;
        options.Telemetry.MetricCardinalityLimit = TelemetrySetup.MaxMetricCardinalityLimit + 1; // each metric would preallocate that many points

        var result = _validator.Validate(null, options);

        Assert.True(result.Failed);
        var failures = string.Join("\n", result.Failures!);
        foreach (var name in new[]
                 {
                     "Jac.Path", "Jac.KeepAliveTimeout", "Limits.OutboundQueueBytes", "Tapr.ConnIdFormat", "Limits.MaxConnections",
                     "Admin.Port", "Callback.RetryMaxDelay", "Cluster.RequiredContactPoints", "Telemetry.MetricCardinalityLimit",
                 })
        {
            Assert.Contains(name, failures, StringComparison.Ordinal);
        }

        Assert.Equal(9, result.Failures!.Count());
    }

    [Fact]
    public void Zero_is_off_where_the_setting_says_so()
    {
        var options = new GatewayOptions();
        options.Tapr.KeepAliveInterval = TimeSpan.Zero;
        options.Jac.KeepAliveInterval = TimeSpan.Zero;
        options.Limits.MaxConnections = 0;
        options.Shutdown.Timeout = TimeSpan.Zero;
        options.Cluster.Port = 0;
        options.Tapr.ConnIdFormat = "Counter";
        options.Telemetry.FeedInterval = TimeSpan.Zero; // 1 s
        options.Tapr.Path = "ws"; // served as /ws

        var result = _validator.Validate(null, options);
        Assert.True(result.Succeeded, result.FailureMessage);
    }
}
