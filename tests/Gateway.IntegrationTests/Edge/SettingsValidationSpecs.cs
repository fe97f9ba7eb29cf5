using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Edge;

/// <summary>
/// A setting outside its range stops the gateway at start, before it serves anything, with a message that names every
/// offending setting (docs/configuration.md, "Checked at start"), instead of a gateway that starts and misbehaves.
/// </summary>
public sealed class SettingsValidationSpecs(ITestOutputHelper output)
{
    [Fact]
    public async Task A_gateway_with_settings_out_of_range_exits_at_start_naming_each_of_them()
    {
        var options = new GatewayProcessOptions { WaitUntilHealthy = false, CallbackUrl = null }
            .With("Limits", "MaxMessageBytes", "0")
            .With("Jac", "Path", "/ws/")
            .With("Callback", "Timeout", "00:00:00")
            .With("Callback", "Url", "app:9000/callback")
            .With("Sockets", "ReadBufferBytes", "-1")
            .With("Sockets", "WriteBufferBytes", "-1"); // Kestrel's own setter would throw first if this were checked late

        var error = await RefusedAtStartAsync(options);

        foreach (var setting in new[] { "Limits.MaxMessageBytes", "Gateway:Jac:Path ('/ws/') must differ", "Callback.Timeout", "Gateway:Callback:Url", "Sockets.ReadBufferBytes", "Sockets.WriteBufferBytes" })
        {
            Assert.Contains(setting, error, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_value_that_is_not_a_number_exits_at_start_naming_its_key()
    {
        var error = await RefusedAtStartAsync(new GatewayProcessOptions { WaitUntilHealthy = false }.With("Limits", "MaxMessageBytes", "1MB"));

        Assert.Contains("Gateway:Limits:MaxMessageBytes", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Settings_at_the_edges_of_their_ranges_start_the_gateway()
    {
        var options = new GatewayProcessOptions()
            .With("Limits", "MaxConnections", "0")
            .With("Tapr", "KeepAliveInterval", "00:00:00")
            .With("Tapr", "ConnIdFormat", "COUNTER")
            .With("Shutdown", "Timeout", "00:00:00")
            .With("Memory", "MinInterval", "00:00:00")
            .With("Telemetry", "FeedInterval", "00:00:00")
            .With("Tapr", "Path", "ws");
        await using var gateway = await GatewayProcess.StartAsync(options);

        using var response = await gateway.Http.GetAsync(new Uri("/healthz", UriKind.Relative));
        Assert.True(response.IsSuccessStatusCode, $"/healthz answered {(int)response.StatusCode}");
    }

    /// <summary>
    /// Starts a gateway that must refuse its settings: it exits with 2, never listens, and writes exactly one line on
    /// standard error, the report, which is returned.
    /// </summary>
    private async Task<string> RefusedAtStartAsync(GatewayProcessOptions options)
    {
        await using var gateway = await GatewayProcess.StartAsync(options);

        var exitCode = await gateway.WaitForExitAsync(TestTimeouts.Long);

        output.WriteLine(string.Join('\n', gateway.Output.Lines.Concat(gateway.StandardError.Lines)));
        Assert.Equal(2, exitCode);
        Assert.DoesNotContain(gateway.Output.Lines, line => line.Contains("Now listening on", StringComparison.Ordinal));
        var error = Assert.Single(gateway.StandardError.Lines, line => line.Length > 0);
        Assert.StartsWith("The gateway's configuration is invalid: ", error, StringComparison.Ordinal);
        return error;
    }
}
