using System.Collections.Concurrent;
using Akka.Hosting;
using Gateway.Callbacks;
using Gateway.Cluster;
using Gateway.Hosting;
using Gateway.Registry;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Hosting;

/// <summary>
/// The gateway's host owns the actor system: Akka.Hosting starts it with the host (named
/// <c>gateway</c>, its actors in the <see cref="ActorRegistry"/>, Akka's log in the host's logging) and
/// the host's stopping signal runs coordinated shutdown, whose drain tasks run before the system ends.
/// Runs the real host on a loopback Kestrel port.
/// </summary>
public sealed class AkkaHostingSpecs
{
    [Fact]
    public async Task The_host_starts_the_actor_system_with_its_actors_and_stopping_the_host_drains_and_terminates_it()
    {
        var logs = new RecordingLoggerProvider();
        var builder = WebApplication.CreateSlimBuilder(["--urls", "http://127.0.0.1:0"]);
        builder.Logging.ClearProviders().AddProvider(logs);
        builder.AddGateway();
        await using var app = builder.Build();
        app.MapHealth();

        await app.StartAsync();
        var system = app.Services.GetRequiredService<ActorSystem>();
        Assert.Equal("gateway", system.Name);
        var registry = app.Services.GetRequiredService<IRequiredActor<RegistryActor>>().ActorRef;
        var callbacks = app.Services.GetRequiredService<IRequiredActor<CallbackActor>>().ActorRef;
        Assert.Equal("akka://gateway/user/registry", registry.Path.ToString());
        Assert.Equal("akka://gateway/user/callbacks", callbacks.Path.ToString());
        Assert.True(app.Services.GetRequiredService<GatewayLifetime>().IsReady);
        var stats = await registry.Ask<RegistryProtocol.RegistryStats>(RegistryProtocol.GetStats.Instance, TimeSpan.FromSeconds(5));
        Assert.Equal(0, stats.Connections);

        // Akka's own log events reach the host's logging (through Akka's logger actor, so a moment later).
        var marker = Guid.NewGuid().ToString("N");
        Akka.Event.LoggingExtensions.Info(system.Log, "logging probe {0}", marker);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (!logs.Messages.Any(m => m.Category.StartsWith("Akka", StringComparison.Ordinal) && m.Text.Contains(marker, StringComparison.Ordinal)))
        {
            Assert.True(DateTime.UtcNow < deadline, "Akka's own log did not reach the host's logging");
            await Task.Delay(20);
        }

        await app.StopAsync();

        Assert.True(system.WhenTerminated.IsCompleted, "the actor system outlived the host");
        Assert.False(app.Services.GetRequiredService<GatewayLifetime>().IsReady);

        // The drain is a coordinated-shutdown task: it ran, and shutdown was started by the host's stop.
        Assert.IsType<CoordinatedShutdown.ClrExitReason>(CoordinatedShutdown.Get(system).ShutdownReason);
        Assert.Contains(logs.Messages, m => m.Text.Contains("Shutdown drained", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Clustering_is_off_by_default_a_local_actor_system_with_no_peers_actor_and_no_remoting()
    {
        var builder = WebApplication.CreateSlimBuilder(["--urls", "http://127.0.0.1:0"]);
        builder.Logging.ClearProviders();
        builder.AddGateway();
        await using var app = builder.Build();

        await app.StartAsync();
        var system = (ExtendedActorSystem)app.Services.GetRequiredService<ActorSystem>();
        Assert.IsType<LocalActorRefProvider>(system.Provider);
        Assert.False(app.Services.GetRequiredService<ActorRegistry>().TryGet<PeersActor>(out _));
        Assert.Null(system.Provider.DefaultAddress.Port);
        Assert.True(app.Services.GetRequiredService<ClusterMembership>().IsUp);
        await app.StopAsync();
    }

    [Fact]
    public async Task An_operators_Akka_section_overrides_the_gateways_own_Akka_settings()
    {
        // The gateway sets akka.log-dead-letters = 10 (AkkaSetup.Defaults).
        var config = await StartedConfigAsync("--Akka:Log-Dead-Letters=3");

        Assert.Equal("3", config.GetString("akka.log-dead-letters"));
    }

    [Fact]
    public async Task The_scheduler_ticks_every_50_ms_unless_the_operator_says_otherwise()
    {
        // Akka's default is 10 ms; each tick wakes a thread-pool worker, which was most of an idle gateway's CPU.
        Assert.Equal(TimeSpan.FromMilliseconds(50), (await StartedConfigAsync()).GetTimeSpan("akka.scheduler.tick-duration", null));
        Assert.Equal(
            TimeSpan.FromMilliseconds(10),
            (await StartedConfigAsync("--Akka:Scheduler:Tick_Duration=10ms")).GetTimeSpan("akka.scheduler.tick-duration", null));
    }

    [Fact]
    public async Task With_clustering_on_an_operators_Akka_section_still_wins_over_the_gateways_cluster_settings()
    {
        // The gateway derives the pause from Gateway:Cluster:AcceptableHeartbeatPause (3 s); the operator's raw setting wins.
        var config = await StartedConfigAsync(
            "--Gateway:Cluster:Enabled=true",
            "--Gateway:Cluster:Port=0",
            "--Akka:Cluster:Failure-Detector:Acceptable-Heartbeat-Pause=7s");

        Assert.Equal(TimeSpan.FromSeconds(7), config.GetTimeSpan("akka.cluster.failure-detector.acceptable-heartbeat-pause", null));
        Assert.Equal("keep-majority", config.GetString("akka.cluster.split-brain-resolver.active-strategy"));
    }

    [Fact]
    public async Task Akka_Loglevel_sets_the_actor_systems_log_level()
    {
        var settings = await StartedSettingsAsync("--Akka:Loglevel=debug");

        Assert.Equal("DEBUG", settings.LogLevel.ToUpperInvariant());
    }

    /// <summary>Starts the gateway's host with <paramref name="args"/> and returns its actor system's configuration.</summary>
    private static async Task<Akka.Configuration.Config> StartedConfigAsync(params string[] args) => (await StartedSettingsAsync(args)).Config;

    /// <summary>Starts the gateway's host with <paramref name="args"/>, stops it, and returns its actor system's settings.</summary>
    private static async Task<Settings> StartedSettingsAsync(params string[] args)
    {
        var builder = WebApplication.CreateSlimBuilder(["--urls", "http://127.0.0.1:0", .. args]);
        builder.Logging.ClearProviders();
        builder.AddGateway();
        await using var app = builder.Build();
        await app.StartAsync();
        var settings = app.Services.GetRequiredService<ActorSystem>().Settings;
        await app.StopAsync();
        return settings;
    }

    private sealed record LogMessage(string Category, string Text);

    private sealed class RecordingLoggerProvider : ILoggerProvider
    {
        public ConcurrentQueue<LogMessage> Messages { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(categoryName, Messages);

        public void Dispose()
        {
        }

        private sealed class Logger(string category, ConcurrentQueue<LogMessage> messages) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (IsEnabled(logLevel))
                {
                    messages.Enqueue(new LogMessage(category, formatter(state, exception)));
                }
            }
        }
    }
}
