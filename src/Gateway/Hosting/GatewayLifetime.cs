using Gateway.Actor;
using Gateway.Callbacks;
using Gateway.Registry;
using Gateway.WebSockets;
using Microsoft.Extensions.Options;

namespace Gateway.Hosting;

/// <summary>
/// Graceful shutdown. On SIGTERM, before Kestrel stops: refuse new sockets, close every socket with
/// 1001, wait for their connection actors to stop and for the app to have received every close
/// callback, then stop the actor system, all within <see cref="ShutdownOptions.Timeout"/>.
/// </summary>
internal sealed partial class GatewayLifetime(
    GatewayRuntime runtime,
    ConnectionLimiter limiter,
    IHostApplicationLifetime lifetime,
    IOptions<GatewayOptions> options,
    ILogger<GatewayLifetime> log) : IHostedService
{
    private volatile bool _stopping;

    /// <summary>False once shutdown has begun (for <c>/readyz</c>).</summary>
    public bool IsReady => !_stopping && !runtime.System.WhenTerminated.IsCompleted;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        // Runs before the server stops: Kestrel would otherwise wait for the sockets' requests and then cut them.
        lifetime.ApplicationStopping.Register(() => DrainAsync().GetAwaiter().GetResult());
        Log.Started(log, limiter.MaxConnections, limiter.FileLimit?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unknown", limiter.OpenAtStart);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task DrainAsync()
    {
        _stopping = true;
        limiter.Close();
        var timeout = options.Value.Shutdown.Timeout;
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            var closed = await runtime.Registry.Ask<RegistryProtocol.ConnectionsClosed>(
                new RegistryProtocol.CloseAll(CloseCodes.GoingAway, "gateway shutting down"), timeout, deadline.Token).ConfigureAwait(false);
            Log.Draining(log, closed.Count, timeout);
            await runtime.Registry.Ask<RegistryProtocol.RegistryEmpty>(RegistryProtocol.AwaitEmpty.Instance, timeout, deadline.Token).ConfigureAwait(false);
            await runtime.Callbacks.Ask<CallbackProtocol.Drained>(CallbackProtocol.AwaitDrained.Instance, timeout, deadline.Token).ConfigureAwait(false);
            Log.Drained(log);
        }
        catch (Exception exception) when (exception is AskTimeoutException or OperationCanceledException)
        {
            Log.DrainTimedOut(log, timeout);
        }

        await runtime.System.Terminate().WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 700, Level = LogLevel.Information, Message = "Gateway started; at most {MaxConnections} WebSocket connections (open-file limit {FileLimit}, {OpenAtStart} open at start-up)")]
        public static partial void Started(ILogger logger, int maxConnections, string fileLimit, int openAtStart);

        [LoggerMessage(EventId = 701, Level = LogLevel.Information, Message = "Shutting down: closed {Count} connections with 1001; delivering their close callbacks (up to {Timeout})")]
        public static partial void Draining(ILogger logger, int count, TimeSpan timeout);

        [LoggerMessage(EventId = 702, Level = LogLevel.Information, Message = "Shutdown drained: every connection closed and every callback delivered")]
        public static partial void Drained(ILogger logger);

        [LoggerMessage(EventId = 703, Level = LogLevel.Warning, Message = "Shutdown deadline of {Timeout} reached before every callback was delivered")]
        public static partial void DrainTimedOut(ILogger logger, TimeSpan timeout);
    }
}
