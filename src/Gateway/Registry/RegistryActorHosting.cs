using Akka.Hosting;
using Gateway.Callbacks;
using Gateway.Connections;
using Gateway.Hosting;
using Gateway.WebSockets;
using Microsoft.Extensions.Options;

namespace Gateway.Registry;

/// <summary>Starts the <see cref="RegistryActor"/> with the actor system.</summary>
internal static class RegistryActorHosting
{
    /// <summary>
    /// Creates <c>/user/registry</c> with the dialects' connection settings and registers it in the
    /// <see cref="ActorRegistry"/> (reach it with <c>IRequiredActor&lt;RegistryActor&gt;</c>). Needs the
    /// callback actor: call after <see cref="CallbackActorHosting.AddCallbackActor"/>.
    /// </summary>
    public static AkkaConfigurationBuilder AddRegistryActor(this AkkaConfigurationBuilder builder) =>
        builder.WithActors((system, registry, resolver) =>
        {
            var gateway = resolver.GetService<IOptions<GatewayOptions>>().Value;
            var socketEnd = WebSocketConnection.CloseDeadline(gateway.Limits.CloseHandshakeTimeout, draw: 1) + TimeSpan.FromSeconds(1);
            var tapr = new ConnectionSettings(gateway.Tapr.PingTimeout, gateway.Tapr.AnyFrameIsLiveness)
            {
                SocketEndTimeout = socketEnd,
                KeepAliveInterval = ConnectionSettings.KeepAlive(gateway.Tapr.KeepAliveInterval),
                KeepAliveTimeout = gateway.Tapr.KeepAliveTimeout,
            };
            var jac = new ConnectionSettings(null, gateway.Tapr.AnyFrameIsLiveness)
            {
                SocketEndTimeout = socketEnd,
                ReplyTimeout = gateway.Jac.WalkerTimeout,
                KeepAliveInterval = ConnectionSettings.KeepAlive(gateway.Jac.KeepAliveInterval),
                KeepAliveTimeout = gateway.Jac.KeepAliveTimeout,
            };
            var actor = system.ActorOf(
                RegistryActor.Props(registry.Get<CallbackActor>(), tapr, jac, resolver.GetService<ILoggerFactory>(), Math.Min(gateway.Limits.CorkSends, gateway.Limits.OutboundQueueMessages), Math.Min(RegistryActor.DefaultCorkBytes, gateway.Limits.OutboundQueueBytes / 2), resolver.GetService<GatewayMetrics>().Deliver),
                "registry");
            registry.Register<RegistryActor>(actor);
            system.ActorOf(UndeliveredFramesActor.Props(), "undelivered-frames");
        });
}
