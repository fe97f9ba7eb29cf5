using System.Diagnostics.Metrics;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Gateway.Hosting;

/// <summary>
/// OpenTelemetry for the gateway: metrics always (the Prometheus scrape endpoint reads them), OTLP export
/// of metrics and traces only when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (the exporter then reads
/// the other standard <c>OTEL_EXPORTER_OTLP_*</c> variables itself). Without OTLP no tracer provider is
/// built, so the gateway's <see cref="System.Diagnostics.ActivitySource"/> has no listener and starting
/// a span costs one check.
/// </summary>
internal static class TelemetrySetup
{
    /// <summary>The standard variable that switches OTLP export on.</summary>
    public const string OtlpEndpointVariable = "OTEL_EXPORTER_OTLP_ENDPOINT";

    /// <summary>
    /// Meters exported besides the gateway's own: ASP.NET Core hosting (<c>http.server.*</c>), Kestrel
    /// (<c>kestrel.*</c>), the callback client (<c>http.client.*</c>, <c>dns.lookup.duration</c>), and the
    /// runtime (<c>dotnet.*</c>, via OpenTelemetry.Instrumentation.Runtime).
    /// </summary>
    public static readonly string[] BuiltInMeters =
    [
        HostingMeter,
        "Microsoft.AspNetCore.Server.Kestrel",
        HttpClientMeter,
        "System.Net.NameResolution",
    ];

    /// <summary>ASP.NET Core's hosting meter (<c>http.server.*</c>): every request through ASP.NET Core.</summary>
    public const string HostingMeter = "Microsoft.AspNetCore.Hosting";

    /// <summary>The runtime's HTTP client meter (<c>http.client.*</c>): every <c>HttpClient</c> in the process.</summary>
    public const string HttpClientMeter = "System.Net.Http";

    /// <summary>
    /// Default of <see cref="TelemetryOptions.MetricCardinalityLimit"/>: OpenTelemetry's own default of 2,000 points per
    /// metric stream cost 8 MB for the gateway's 56 streams, whose tags (close codes, routes, status codes, GC
    /// generations) take a few dozen values.
    /// </summary>
    public const int DefaultMetricCardinalityLimit = 200;

    /// <summary>The largest <see cref="TelemetryOptions.MetricCardinalityLimit"/> the gateway starts with (about 400 MB of points at 56 metrics).</summary>
    public const int MaxMetricCardinalityLimit = 100_000;

    /// <summary>
    /// Kestrel's per-connection histogram, off unless <c>Gateway:Telemetry:KestrelConnectionDuration</c> is true. While
    /// it is on, Kestrel keeps a tags feature with its list on every TCP connection for its whole life (56 bytes per
    /// idle socket, measured with a heap census); <c>gateway.connection.duration</c> already times every WebSocket.
    /// </summary>
    public const string KestrelConnectionDuration = "kestrel.connection.duration";

    /// <summary>
    /// The built-in instruments recorded on every HTTP request (names from OpenTelemetry's semantic conventions for
    /// HTTP metrics), dropped when <see cref="TelemetryOptions.HttpRequestMetrics"/> is false: <see cref="HostingMeter"/>'s
    /// on every request ASP.NET Core serves (admin calls, health checks, scrapes, upgrades on the HTTP path),
    /// <see cref="HttpClientMeter"/>'s on every outgoing request (app callbacks, and Kubernetes discovery or OTLP export
    /// when on). Dropped, an instrument has no listener from the gateway, so the runtime skips its bookkeeping (the
    /// client's metrics handler, its pool's idle/active tally) unless another listener, such as dotnet-counters,
    /// enables it (the pool reads <c>http.client.open_connections</c>' state once per connection it opens).
    /// </summary>
    public static readonly string[] HttpRequestInstruments =
    [
        "http.server.request.duration",
        "http.server.active_requests",
        "http.client.request.duration",
        "http.client.active_requests",
        "http.client.open_connections",
    ];

    /// <summary>The setting that turns <see cref="KestrelConnectionDuration"/> on.</summary>
    public const string KestrelConnectionDurationKey = "Gateway:Telemetry:KestrelConnectionDuration";

    /// <param name="builder">The host being built.</param>
    /// <param name="options">The bound and checked <c>Gateway:Telemetry</c> section.</param>
    public static WebApplicationBuilder AddGatewayTelemetry(this WebApplicationBuilder builder, TelemetryOptions options)
    {
        var otlp = !string.IsNullOrWhiteSpace(builder.Configuration[OtlpEndpointVariable]);
        var cardinalityLimit = options.MetricCardinalityLimit;
        var kestrelConnectionDuration = builder.Configuration.GetValue(KestrelConnectionDurationKey, false);
        var httpRequestMetrics = options.HttpRequestMetrics;
        var serviceName = builder.Configuration["OTEL_SERVICE_NAME"];
        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(string.IsNullOrWhiteSpace(serviceName) ? "gateway" : serviceName))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(GatewayMetrics.MeterName)
                    .AddMeter(BuiltInMeters)
                    .AddRuntimeInstrumentation()
                    // A dropped instrument is not enabled at all, so Kestrel skips its per-connection bookkeeping and
                    // HttpClient and ASP.NET Core their per-request bookkeeping.
                    .AddView(instrument => (instrument.Name == KestrelConnectionDuration && !kestrelConnectionDuration)
                        || (!httpRequestMetrics && IsHttpRequestInstrument(instrument))
                        ? MetricStreamConfiguration.Drop
                        : new MetricStreamConfiguration { CardinalityLimit = cardinalityLimit })
                    // Every scrape is fresh (the endpoint is for operators and one Prometheus, not the public).
                    .AddPrometheusExporter(prometheus => prometheus.ScrapeResponseCacheDurationMilliseconds = 0);
                if (otlp)
                {
                    metrics.AddOtlpExporter();
                }
            });
        if (otlp)
        {
            telemetry.WithTracing(tracing => tracing.AddSource(GatewayTracing.SourceName).AddOtlpExporter());
        }

        return builder;
    }

    /// <summary>Whether <paramref name="instrument"/> is one of <see cref="HttpRequestInstruments"/> on its own meter.</summary>
    internal static bool IsHttpRequestInstrument(Instrument instrument) =>
        (instrument.Meter.Name is HostingMeter or HttpClientMeter) && HttpRequestInstruments.Contains(instrument.Name);
}
