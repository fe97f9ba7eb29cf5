using System.Diagnostics.Metrics;
using Gateway.Hosting;

namespace Gateway.Tests.Hosting;

/// <summary>Which built-in instruments <c>Gateway:Telemetry:HttpRequestMetrics=false</c> drops (<see cref="TelemetrySetup.HttpRequestInstruments"/>).</summary>
public sealed class TelemetrySetupSpecs
{
    [Theory]
    [InlineData("Microsoft.AspNetCore.Hosting", "http.server.request.duration", true)]
    [InlineData("Microsoft.AspNetCore.Hosting", "http.server.active_requests", true)]
    [InlineData("System.Net.Http", "http.client.request.duration", true)]
    [InlineData("System.Net.Http", "http.client.active_requests", true)]
    [InlineData("System.Net.Http", "http.client.open_connections", true)]
    [InlineData("System.Net.Http", "http.client.connection.duration", false)]
    [InlineData("System.Net.Http", "http.client.request.time_in_queue", false)]
    [InlineData("Microsoft.AspNetCore.Server.Kestrel", "kestrel.active_connections", false)]
    [InlineData("Gateway", "http.server.request.duration", false)]
    public void Only_the_per_request_instruments_of_the_hosting_and_http_client_meters_are_http_request_instruments(string meterName, string name, bool expected)
    {
        using var meter = new Meter(meterName);
        var instrument = meter.CreateHistogram<double>(name);

        Assert.Equal(expected, TelemetrySetup.IsHttpRequestInstrument(instrument));
    }
}
