using System.Diagnostics.Metrics;
using Gateway.Connections;
using Gateway.Hosting;

namespace Gateway.Tests.Hosting;

/// <summary>
/// <see cref="GatewayMetrics"/>: the counts it keeps anyway are observable instruments read at collection, so the hot
/// paths (a client message, an admin send, a callback, a connect) record no synchronous measurement of them.
/// </summary>
public sealed class GatewayMetricsSpecs : IDisposable
{
    private readonly ScopedMeterFactory _meters = new();
    private readonly GatewayMetrics _metrics;
    private readonly MeterListener _listener = new();
    private readonly List<(string Instrument, long Value, string? Dialect)> _recorded = [];

    public GatewayMetricsSpecs()
    {
        _metrics = new GatewayMetrics(_meters);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter.Scope, _meters.Scope))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, (long)value, tags));
        _listener.Start();
    }

    [Fact]
    public void A_message_a_send_and_a_callback_record_only_their_histograms_and_the_counts_are_read_when_collected()
    {
        _metrics.ConnectionOpened(Dialect.Tapr);
        _metrics.MessageIn(Dialect.Tapr);
        _metrics.MessageIn(Dialect.Tapr);
        _metrics.MessageIn(Dialect.Tapr);
        _metrics.CallbacksPending(2);
        _metrics.CallbackStarted();
        _metrics.Sent(matched: 1, enqueued: 1, dropped: 0);

        Assert.Equal(["gateway.send.fanout"], _recorded.Select(r => r.Instrument));

        _recorded.Clear();
        _listener.RecordObservableInstruments();

        Assert.Equal((1, "tapr"), Single("gateway.connection.active"));
        Assert.Equal((1, "tapr"), Single("gateway.connection.opened"));
        Assert.Equal((3, "tapr"), Single("gateway.message.received"));
        Assert.Equal((1, null), Single("gateway.message.sent"));
        Assert.Equal((1, null), Single("gateway.callback.active_requests"));
        Assert.Equal((2, null), Single("gateway.callback.pending"));
    }

    [Fact]
    public void Connection_counts_are_per_dialect_and_a_dialect_appears_once_it_has_had_a_connection()
    {
        _listener.RecordObservableInstruments();
        Assert.DoesNotContain(_recorded, r => r.Instrument is "gateway.connection.active" or "gateway.connection.opened" or "gateway.message.received");
        Assert.Equal((0, null), Single("gateway.message.sent"));

        var first = _metrics.ConnectionOpened(Dialect.Tapr);
        _metrics.ConnectionOpened(Dialect.Tapr);
        _metrics.ConnectionOpened(Dialect.Tapr);
        var jac = _metrics.ConnectionOpened(Dialect.Jac);
        _metrics.ConnectionOpened(Dialect.Jac);
        _metrics.ConnectionClosed(Dialect.Tapr, 1000, first);
        _metrics.ConnectionClosed(Dialect.Jac, 1000, jac);
        _metrics.MessageIn(Dialect.Jac);
        _metrics.MessageIn(Dialect.Jac);
        _metrics.MessageIn(Dialect.Tapr);
        _metrics.CallbackStarted();
        _metrics.CallbackEnded("delivered", 200, 0.001);
        _metrics.CallbacksPending(1);
        _metrics.CallbacksPending(-1);

        _recorded.Clear();
        _listener.RecordObservableInstruments();

        Assert.Equal([(1, "jac"), (2, "tapr")], All("gateway.connection.active"));
        Assert.Equal([(2, "jac"), (3, "tapr")], All("gateway.connection.opened"));
        Assert.Equal([(2, "jac"), (1, "tapr")], All("gateway.message.received"));
        Assert.Equal((0, null), Single("gateway.callback.active_requests"));
        Assert.Equal((0, null), Single("gateway.callback.pending"));
        Assert.Equal(3, _metrics.ConnectionsCurrent);
        Assert.Equal(7, _metrics.Churn);
        var totals = _metrics.Snapshot();
        Assert.Equal((5, 2, 3), (totals.ConnectionsOpened, totals.ConnectionsClosed, totals.MessagesIn));
    }

    public void Dispose()
    {
        _listener.Dispose();
        _metrics.Dispose();
        _meters.Dispose();
    }

    private void Record(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        string? dialect = null;
        foreach (var tag in tags)
        {
            if (tag.Key == "gateway.dialect")
            {
                dialect = (string?)tag.Value;
            }
        }

        lock (_recorded)
        {
            _recorded.Add((instrument.Name, value, dialect));
        }
    }

    private (long Value, string? Dialect) Single(string instrument) => Assert.Single(All(instrument));

    private List<(long Value, string? Dialect)> All(string instrument) =>
        [.. _recorded.Where(r => r.Instrument == instrument).Select(r => (r.Value, r.Dialect)).OrderBy(r => r.Dialect, StringComparer.Ordinal)];

    /// <summary>Meters with a scope of their own, so the listener hears this spec's instruments and no other spec's.</summary>
    private sealed class ScopedMeterFactory : IMeterFactory
    {
        private readonly List<Meter> _created = [];

        public object Scope { get; } = new();

        public Meter Create(MeterOptions options)
        {
            var meter = new Meter(new MeterOptions(options.Name) { Version = options.Version, Tags = options.Tags, Scope = Scope });
            _created.Add(meter);
            return meter;
        }

        public void Dispose() => _created.ForEach(meter => meter.Dispose());
    }
}
