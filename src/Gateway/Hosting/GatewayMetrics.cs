using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Gateway.Hosting;

/// <summary>
/// The gateway's counters, published on the <c>Gateway</c> meter (for dotnet-counters and
/// OpenTelemetry) and rendered in Prometheus text format at <c>/metrics</c>.
/// </summary>
internal sealed class GatewayMetrics : IDisposable
{
    public const string MeterName = "Gateway";

    private readonly Meter _meter = new(MeterName);
    private long _connectionsOpened;
    private long _connectionsClosed;
    private long _rejectedLimit;
    private long _rejectedShutdown;
    private long _messagesIn;
    private long _messagesOut;
    private long _slowConsumers;

    public GatewayMetrics()
    {
        _meter.CreateObservableUpDownCounter("gateway.connections", () => ConnectionsCurrent, description: "Open WebSocket connections");
        _meter.CreateObservableCounter("gateway.connections.opened", () => Volatile.Read(ref _connectionsOpened));
        _meter.CreateObservableCounter("gateway.connections.rejected", () => new[]
        {
            new Measurement<long>(Volatile.Read(ref _rejectedLimit), new KeyValuePair<string, object?>("reason", "limit")),
            new Measurement<long>(Volatile.Read(ref _rejectedShutdown), new KeyValuePair<string, object?>("reason", "shutdown")),
        });
        _meter.CreateObservableCounter("gateway.messages.in", () => Volatile.Read(ref _messagesIn));
        _meter.CreateObservableCounter("gateway.messages.out", () => Volatile.Read(ref _messagesOut));
        _meter.CreateObservableCounter("gateway.slow_consumers", () => Volatile.Read(ref _slowConsumers));
    }

    public long ConnectionsCurrent => Volatile.Read(ref _connectionsOpened) - Volatile.Read(ref _connectionsClosed);

    /// <summary>Connects plus disconnects so far.</summary>
    public long Churn => Volatile.Read(ref _connectionsOpened) + Volatile.Read(ref _connectionsClosed);

    public void ConnectionOpened() => Interlocked.Increment(ref _connectionsOpened);

    public void ConnectionClosed() => Interlocked.Increment(ref _connectionsClosed);

    public void ConnectionRejected(string reason) =>
        Interlocked.Increment(ref reason == "limit" ? ref _rejectedLimit : ref _rejectedShutdown);

    public void MessageIn() => Interlocked.Increment(ref _messagesIn);

    public void MessagesOut(int count) => Interlocked.Add(ref _messagesOut, count);

    public void SlowConsumer() => Interlocked.Increment(ref _slowConsumers);

    /// <summary>The Prometheus text exposition of the counters, plus the given gauges.</summary>
    public string RenderPrometheus(IEnumerable<(string Name, string Help, double Value)> gauges)
    {
        var text = new StringBuilder();
        Counter(text, "gateway_connections_opened_total", "WebSocket connections accepted", Volatile.Read(ref _connectionsOpened));
        Counter(text, "gateway_connections_closed_total", "WebSocket connections ended", Volatile.Read(ref _connectionsClosed));
        text.Append("# HELP gateway_connections_rejected_total WebSocket connections refused before the upgrade\n# TYPE gateway_connections_rejected_total counter\n");
        text.Append(CultureInfo.InvariantCulture, $"gateway_connections_rejected_total{{reason=\"limit\"}} {Volatile.Read(ref _rejectedLimit)}\n");
        text.Append(CultureInfo.InvariantCulture, $"gateway_connections_rejected_total{{reason=\"shutdown\"}} {Volatile.Read(ref _rejectedShutdown)}\n");
        Counter(text, "gateway_messages_in_total", "Messages received from clients", Volatile.Read(ref _messagesIn));
        Counter(text, "gateway_messages_out_total", "Messages queued to clients by sends", Volatile.Read(ref _messagesOut));
        Counter(text, "gateway_slow_consumers_total", "Clients closed with 4001 for not reading", Volatile.Read(ref _slowConsumers));
        foreach (var (name, help, value) in gauges)
        {
            text.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n");
        }

        return text.ToString();
    }

    public void Dispose() => _meter.Dispose();

    private static void Counter(StringBuilder text, string name, string help, long value) =>
        text.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n");
}
