using Akka;
using Akka.Actor;
using Akka.Hosting;
using Gateway.Callbacks;
using Gateway.Registry;
using Gateway.WebSockets;
using Microsoft.Extensions.Options;

namespace Gateway.Hosting;

/// <summary>
/// Graceful shutdown, as tasks of Akka's <see cref="CoordinatedShutdown"/>, run from the host's stopping
/// signal (SIGTERM) before Kestrel stops and drops the sockets:
/// <list type="number">
/// <item><c>service-unbind</c>: refuse new sockets (503).</item>
/// <item><c>service-requests-done</c>: close every socket with 1001 and wait for its connection actor to stop.</item>
/// <item><c>service-stop</c>: wait until the app has received every <c>close</c> callback.</item>
/// </list>
/// then Akka's own phases terminate the actor system. The drain as a whole is bounded by
/// <see cref="ShutdownOptions.Timeout"/>.
/// </summary>
internal sealed partial class GatewayLifetime(
    ActorSystem system,
    ConnectionLimiter limiter,
    IHostApplicationLifetime lifetime,
    IOptions<GatewayOptions> options,
    ILogger<GatewayLifetime> log) : IHostedService
{
    private volatile bool _stopping;
    private DateTime _deadline = DateTime.MaxValue;

    /// <summary>False once shutdown has begun (for <c>/readyz</c>).</summary>
    public bool IsReady => !_stopping && !system.WhenTerminated.IsCompleted;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        // Runs before the server stops: Kestrel would otherwise wait for the sockets' requests and then cut them.
        lifetime.ApplicationStopping.Register(() => CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClrExitReason.Instance).GetAwaiter().GetResult());

        // A cluster node that is downed runs coordinated shutdown itself (the same drain: 1001 to its clients,
        // close callbacks to its app); then the process exits, non-zero, so the orchestrator restarts it.
        system.WhenTerminated.ContinueWith(
            _ =>
            {
                if (CoordinatedShutdown.Get(system).ShutdownReason is CoordinatedShutdown.ClusterDowningReason)
                {
                    Log.Downed(log);
                    Environment.ExitCode = 3;
                }

                lifetime.StopApplication();
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
        Log.Started(log, limiter.MaxConnections, limiter.FileLimit?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unknown", limiter.OpenAtStart);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Adds the drain's tasks to <paramref name="shutdown"/>; called once the actors exist.</summary>
    public void AddShutdownTasks(CoordinatedShutdown shutdown, IActorRef registry, IActorRef callbacks)
    {
        shutdown.AddTask(CoordinatedShutdown.PhaseServiceUnbind, "refuse-new-connections", () =>
        {
            _stopping = true;
            _deadline = DateTime.UtcNow + options.Value.Shutdown.Timeout;
            limiter.Close();
            return Task.FromResult(Done.Instance);
        });
        shutdown.AddTask(CoordinatedShutdown.PhaseServiceRequestsDone, "close-connections", async () =>
        {
            try
            {
                var closed = await registry.Ask<RegistryProtocol.ConnectionsClosed>(
                    new RegistryProtocol.CloseAll(CloseCodes.GoingAway, "gateway shutting down"), Remaining()).ConfigureAwait(false);
                Log.Draining(log, closed.Count, options.Value.Shutdown.Timeout);
                await registry.Ask<RegistryProtocol.RegistryEmpty>(RegistryProtocol.AwaitEmpty.Instance, Remaining()).ConfigureAwait(false);
            }
            catch (AskTimeoutException)
            {
                Log.DrainTimedOut(log, options.Value.Shutdown.Timeout);
            }

            return Done.Instance;
        });
        shutdown.AddTask(CoordinatedShutdown.PhaseServiceStop, "deliver-close-callbacks", async () =>
        {
            try
            {
                await callbacks.Ask<CallbackProtocol.Drained>(CallbackProtocol.AwaitDrained.Instance, Remaining()).ConfigureAwait(false);
                Log.Drained(log);
            }
            catch (AskTimeoutException)
            {
                Log.DrainTimedOut(log, options.Value.Shutdown.Timeout);
            }

            return Done.Instance;
        });
    }

    private TimeSpan Remaining()
    {
        var remaining = _deadline - DateTime.UtcNow;
        return remaining > TimeSpan.FromMilliseconds(1) ? remaining : TimeSpan.FromMilliseconds(1);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 700, Level = LogLevel.Information, Message = "Gateway started; at most {MaxConnections} WebSocket connections (open-file limit {FileLimit}, {OpenAtStart} open at start-up)")]
        public static partial void Started(ILogger logger, int maxConnections, string fileLimit, int openAtStart);

        [LoggerMessage(EventId = 701, Level = LogLevel.Information, Message = "Shutting down: closed {Count} connections with 1001; delivering their close callbacks (up to {Timeout})")]
        public static partial void Draining(ILogger logger, int count, TimeSpan timeout);

        [LoggerMessage(EventId = 702, Level = LogLevel.Information, Message = "Shutdown drained: every connection closed and every callback delivered")]
        public static partial void Drained(ILogger logger);

        [LoggerMessage(EventId = 704, Level = LogLevel.Warning, Message = "This node was downed by the cluster: drained, now exiting so that it is restarted")]
        public static partial void Downed(ILogger logger);

        [LoggerMessage(EventId = 703, Level = LogLevel.Warning, Message = "Shutdown deadline of {Timeout} reached before every callback was delivered")]
        public static partial void DrainTimedOut(ILogger logger, TimeSpan timeout);
    }
}

/// <summary>Registers the drain's coordinated-shutdown tasks once the gateway's actors exist.</summary>
internal static class GatewayLifetimeHosting
{
    /// <summary>Call after the registry and callback actors are added.</summary>
    public static AkkaConfigurationBuilder AddGracefulShutdown(this AkkaConfigurationBuilder builder) =>
        builder.WithActors((system, registry, resolver) =>
            resolver.GetService<GatewayLifetime>().AddShutdownTasks(CoordinatedShutdown.Get(system), registry.Get<RegistryActor>(), registry.Get<CallbackActor>()));
}
