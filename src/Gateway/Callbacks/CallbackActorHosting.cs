using Akka.Hosting;
using Gateway.Hosting;
using Microsoft.Extensions.Options;

namespace Gateway.Callbacks;

/// <summary>Starts the <see cref="CallbackActor"/> with the actor system.</summary>
internal static class CallbackActorHosting
{
    /// <summary>
    /// Creates <c>/user/callbacks</c> from <c>Gateway:Callback</c> and registers it in the
    /// <see cref="ActorRegistry"/> (reach it with <c>IRequiredActor&lt;CallbackActor&gt;</c>).
    /// </summary>
    public static AkkaConfigurationBuilder AddCallbackActor(this AkkaConfigurationBuilder builder) =>
        builder.WithActors((system, registry, resolver) =>
        {
            var callback = resolver.GetService<IOptions<GatewayOptions>>().Value.Callback;
            var settings = new CallbackSettings(callback.Timeout, callback.RetryBaseDelay, callback.RetryMaxDelay, callback.MaxConcurrency);
            var actor = system.ActorOf(
                CallbackActor.Props(
                    resolver.GetService<IAppCallbackClient>(),
                    settings,
                    resolver.GetService<ILogger<CallbackActor>>(),
                    resolver.GetService<GatewayMetrics>(),
                    resolver.GetService<GatewayTracing>()),
                "callbacks");
            registry.Register<CallbackActor>(actor);
        });
}
