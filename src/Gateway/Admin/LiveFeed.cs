using System.Buffers;
using System.Text.Json;
using System.Threading.Channels;
using Akka;
using Akka.Actor;
using Akka.Hosting;
using Akka.Streams;
using Akka.Streams.Dsl;
using Gateway.Hosting;
using Gateway.Registry;
using Microsoft.Extensions.Options;

namespace Gateway.Admin;

/// <summary>
/// The admin page's live figures: one process-wide Akka.Streams graph, materialized once at start-up,
/// samples the registry and the gateway's running totals every <see cref="TelemetryOptions.FeedInterval"/>
/// (a tick source is the throttle), turns each sample into one JSON frame with per-second rates, and
/// publishes it through a single <see cref="BroadcastHub"/> that every viewer attaches to. A viewer that
/// reads slowly only conflates its own frames (it keeps the latest); sampling never waits for viewers.
/// The latest sample also feeds the <c>gateway.user.active</c> gauge.
/// </summary>
internal sealed partial class LiveFeed(
    ActorSystem system,
    IRequiredActor<RegistryActor> registry,
    GatewayRuntime runtime,
    GatewayMetrics metrics,
    ConnectionLimiter limiter,
    IHostApplicationLifetime lifetime,
    IOptions<GatewayOptions> options,
    ILogger<LiveFeed> log) : IHostedService
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(2);
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();

    private IMaterializer? _materializer;
    private Source<byte[], NotUsed>? _frames;
    private IKillSwitch? _stop;
    private Sample? _previous;
    private long _users;

    /// <summary>Users with open connections at the last sample.</summary>
    public long Users => Interlocked.Read(ref _users);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        metrics.Observe(() => runtime.InboundBudget.Pending, () => limiter.MaxConnections, () => Users);
        var interval = options.Value.Telemetry.FeedInterval > TimeSpan.Zero ? options.Value.Telemetry.FeedInterval : TimeSpan.FromSeconds(1);
        _materializer = system.Materializer(namePrefix: "admin-feed");
        var (stop, frames) = Source.Tick(TimeSpan.Zero, interval, NotUsed.Instance)
            .SelectAsync(1, _ => SampleAsync())
            .Select(Encode)

            // Always room for the newest frame: with no viewer the hub fills, and the sampling goes on.
            .Buffer(1, OverflowStrategy.DropHead)
            .ViaMaterialized(KillSwitches.Single<byte[]>(), Keep.Right)
            .ToMaterialized(BroadcastHub.Sink<byte[]>(bufferSize: 4), Keep.Both)
            .Run(_materializer);
        _stop = stop;
        _frames = frames;

        // Before Kestrel waits for open requests: the viewers' streams complete and their requests end.
        lifetime.ApplicationStopping.Register(() => _stop?.Shutdown());
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _stop?.Shutdown();
        return Task.CompletedTask;
    }

    /// <summary>
    /// Streams frames to one viewer as server-sent events (<c>data: {json}</c>) until it goes away or the
    /// gateway stops. The viewer's own stream runs from the hub through a kill switch tied to the request
    /// and a one-frame conflating buffer.
    /// </summary>
    public async Task ServeAsync(HttpContext context)
    {
        var response = context.Response;
        if (_frames is null || _materializer is null)
        {
            response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return;
        }

        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        var aborted = context.RequestAborted;
        var reader = _frames
            .Via(KillSwitches.AsFlow<byte[]>(aborted, cancelGracefully: true))
            .Conflate((_, latest) => latest)
            .RunWith(ChannelSink.AsReader<byte[]>(1, singleReader: true, BoundedChannelFullMode.DropOldest), _materializer);
        await response.WriteAsync("retry: 2000\n\n", aborted).ConfigureAwait(false);
        await response.Body.FlushAsync(aborted).ConfigureAwait(false);
        try
        {
            await foreach (var frame in reader.ReadAllAsync(aborted).ConfigureAwait(false))
            {
                await response.Body.WriteAsync(DataPrefix, aborted).ConfigureAwait(false);
                await response.Body.WriteAsync(frame, aborted).ConfigureAwait(false);
                await response.Body.WriteAsync(EventEnd, aborted).ConfigureAwait(false);
                await response.Body.FlushAsync(aborted).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            // The viewer left.
        }
    }

    private async Task<Sample> SampleAsync()
    {
        int? connections = null;
        int? users = null;
        try
        {
            var stats = await registry.ActorRef.Ask<RegistryProtocol.RegistryStats>(RegistryProtocol.GetStats.Instance, AskTimeout).ConfigureAwait(false);
            connections = stats.Connections;
            users = stats.Users;
            Interlocked.Exchange(ref _users, stats.Users);
        }
        catch (Exception exception)
        {
            // A busy or stopping registry: this sample has no registry figures; the stream goes on.
            Log.SampleFailed(log, exception.Message);
        }

        return new Sample(DateTimeOffset.UtcNow, connections, users, metrics.Snapshot(), metrics.ClosedByCode());
    }

    /// <summary>One JSON frame: the figures, running totals, and rates against the previous sample.</summary>
    private byte[] Encode(Sample sample)
    {
        var previous = _previous;
        _previous = sample;
        var totals = sample.Totals;
        var seconds = previous is null ? 0 : (sample.At - previous.At).TotalSeconds;
        double Rate(Func<GatewayMetrics.Totals, long> figure) =>
            previous is null || seconds <= 0 ? 0 : Math.Round((figure(totals) - figure(previous.Totals)) / seconds, 2);

        var buffer = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteNumber("at", sample.At.ToUnixTimeMilliseconds());
            WriteNullable(writer, "connections", sample.Connections);
            WriteNullable(writer, "users", sample.Users);
            writer.WriteNumber("connectionLimit", limiter.MaxConnections);
            writer.WriteNumber("messagesInPerSecond", Rate(t => t.MessagesIn));
            writer.WriteNumber("messagesOutPerSecond", Rate(t => t.MessagesOut));
            writer.WriteNumber("callbackPending", totals.CallbacksPending);
            writer.WriteNumber("callbackInFlight", totals.CallbacksInFlight);
            writer.WriteNumber("callbackRetriesPerSecond", Rate(t => t.CallbackRetries));
            writer.WriteNumber("inboundPendingBytes", totals.InboundPendingBytes);
            writer.WriteStartObject("totals");
            writer.WriteNumber("connectionsOpened", totals.ConnectionsOpened);
            writer.WriteNumber("connectionsClosed", totals.ConnectionsClosed);
            writer.WriteNumber("messagesIn", totals.MessagesIn);
            writer.WriteNumber("messagesOut", totals.MessagesOut);
            writer.WriteNumber("callbackRetries", totals.CallbackRetries);
            writer.WriteNumber("slowConsumers", totals.SlowConsumers);
            writer.WriteNumber("rejectedLimit", totals.RejectedLimit);
            writer.WriteNumber("rejectedOther", totals.RejectedOther);
            writer.WriteEndObject();
            writer.WriteStartObject("closedByCode");
            foreach (var (code, count) in sample.ClosedByCode)
            {
                writer.WriteNumber(code.ToString(System.Globalization.CultureInfo.InvariantCulture), count);
            }

            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteNullable(Utf8JsonWriter writer, string name, int? value)
    {
        if (value is { } number)
        {
            writer.WriteNumber(name, number);
        }
        else
        {
            writer.WriteNull(name);
        }
    }

    private sealed record Sample(DateTimeOffset At, int? Connections, int? Users, GatewayMetrics.Totals Totals, IReadOnlyList<(int Code, long Count)> ClosedByCode);

    private static partial class Log
    {
        [LoggerMessage(EventId = 910, Level = LogLevel.Debug, Message = "Admin feed sample without registry figures: {Reason}")]
        public static partial void SampleFailed(ILogger logger, string reason);
    }
}
