using System.Globalization;
using Akka.Configuration;
using Akka.Hosting;
using Gateway.Connections;

namespace Gateway.Hosting;

/// <summary>The actor system's configuration: what the gateway sets, what operators may override, and where Akka logs.</summary>
internal static class AkkaSetup
{
    /// <summary>The actor system's name (<c>akka://gateway/user/registry</c>).</summary>
    public const string SystemName = "gateway";

    /// <summary>The configuration section operators may use for raw Akka settings (env <c>Akka__Loglevel=DEBUG</c>).</summary>
    public const string OverrideSection = "Akka";

    /// <summary>
    /// The gateway's Akka settings, and Akka's own log events routed to Microsoft.Extensions.Logging (at the
    /// level of <c>Akka:Loglevel</c>, <c>INFO</c> by default). Operators' settings go on top with
    /// <see cref="AddOperatorSettings"/>, called last.
    /// </summary>
    public static AkkaConfigurationBuilder ConfigureGatewayAkka(this AkkaConfigurationBuilder builder, IConfiguration configuration, GatewayOptions gateway)
    {
        builder.AddHocon(Defaults(gateway), HoconAddMode.Append);

        // The logger configuration writes akka.loglevel as well: give it the operator's level (or INFO), so both agree.
        var level = configuration.GetSection(OverrideSection)["Loglevel"] is { Length: > 0 } name ? Akka.Event.Logging.LogLevelFor(name.ToUpperInvariant()) : Akka.Event.LogLevel.InfoLevel;
        return builder.ConfigureLoggers(loggers =>
        {
            loggers.LogLevel = level;
            loggers.ClearLoggers();
            loggers.AddLoggerFactory();
        });
    }

    /// <summary>
    /// Anything under <c>Akka</c> in the ASP.NET configuration, on top of every setting the gateway makes, its
    /// cluster settings included (keys lower-cased, <c>_</c> read as <c>-</c>, as Akka.Hosting's configuration
    /// adapter does). Call it after every other step that adds HOCON: the last prepended configuration wins.
    /// </summary>
    public static AkkaConfigurationBuilder AddOperatorSettings(this AkkaConfigurationBuilder builder, IConfiguration configuration)
    {
        var overrides = configuration.GetSection(OverrideSection);
        return overrides.Exists() ? builder.AddHocon(overrides, HoconAddMode.Prepend) : builder;
    }

    /// <summary>
    /// The dispatcher stays Akka's default (the thread pool). The scheduler is Akka's hashed wheel with 50 ms ticks
    /// instead of 10 ms: every tick wakes a thread-pool worker, and an idle gateway spent most of its CPU on those
    /// wake-ups (performance.md, "Fourteenth session"). A scheduled message (a ping deadline, a callback retry) arrives
    /// up to about two ticks (100 ms) after it is due, more when the thread pool is saturated. Further changes:
    /// connection actors' mailbox;
    /// dead letters are logged only when unexpected (messages from read loops of sockets that already
    /// closed are marked <c>IDeadLetterSuppression</c>); the drain's shutdown phases get the configured
    /// timeout; and the host, not a CLR exit hook, runs coordinated shutdown.
    /// </summary>
    internal static Config Defaults(GatewayOptions gateway)
    {
        // The phase budget exceeds the drain's own deadline, so the drain reports its timeout itself.
        var phase = (gateway.Shutdown.Timeout + TimeSpan.FromSeconds(2)).TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture) + "ms";
        return ConfigurationFactory.ParseString($$"""
            akka {
              scheduler.tick-duration = 50ms
              log-dead-letters = 10
              log-dead-letters-during-shutdown = off
              coordinated-shutdown {
                run-by-clr-shutdown-hook = off
                phases {
                  service-requests-done.timeout = {{phase}}
                  service-stop.timeout = {{phase}}
                }
              }
            }
            {{ConnectionMailbox.Id}} {
              mailbox-type = "{{typeof(ConnectionMailbox).AssemblyQualifiedName}}"
            }
            """);
    }
}
