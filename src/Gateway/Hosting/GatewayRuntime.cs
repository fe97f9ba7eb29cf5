using Gateway.Actor;
using Gateway.Callbacks;
using Gateway.Connections;
using Gateway.Registry;
using Gateway.WebSockets;
using Microsoft.Extensions.Options;

namespace Gateway.Hosting;

/// <summary>
/// The actor system and its two top-level actors, <c>/user/callbacks</c> and <c>/user/registry</c>,
/// plus the shared per-socket settings. Endpoints reach the actors only through this.
/// </summary>
internal sealed class GatewayRuntime : IDisposable
{
    private readonly AppCallbackClient _callbackClient;

    public GatewayRuntime(IOptions<GatewayOptions> options, ILoggerFactory loggerFactory, GatewayMetrics metrics, CallbackTarget target)
    {
        var gateway = options.Value;
        Options = gateway;
        Metrics = metrics;
        var limits = gateway.Limits;
        Socket = new WebSocketSettings(limits.MaxMessageBytes, limits.OutboundQueueBytes, limits.OutboundQueueMessages, limits.CloseHandshakeTimeout);
        InboundBudget = new InboundBudget(limits.InboundPendingBytesTotal);

        System = ActorSystem.Create("gateway", new ActorSystemSettings { LoggerFactory = loggerFactory });
        _callbackClient = new AppCallbackClient(target.Uri, gateway.Callback.MaxConcurrency);
        var callback = gateway.Callback;
        Callbacks = System.ActorOf(
            CallbackActor.Props(_callbackClient, new CallbackSettings(callback.Timeout, callback.RetryBaseDelay, callback.RetryMaxDelay, callback.MaxConcurrency)),
            "callbacks");
        var tapr = new ConnectionSettings(gateway.Tapr.PingTimeout, gateway.Tapr.AnyFrameIsLiveness);
        var jac = new ConnectionSettings(null, gateway.Tapr.AnyFrameIsLiveness) { ReplyTimeout = gateway.Jac.WalkerTimeout };
        Registry = System.ActorOf(RegistryActor.Props(Callbacks, tapr, jac), "registry");
    }

    public GatewayOptions Options { get; }

    public GatewayMetrics Metrics { get; }

    public ActorSystem System { get; }

    public IActorRef Registry { get; }

    public IActorRef Callbacks { get; }

    public WebSocketSettings Socket { get; }

    public InboundBudget InboundBudget { get; }

    /// <summary>A fresh inbound flow for one connection.</summary>
    public InboundFlow NewInboundFlow() => new(Options.Limits.InboundPendingBytesPerConnection, InboundBudget);

    public void Dispose()
    {
        System.Terminate().Wait(TimeSpan.FromSeconds(5));
        _callbackClient.Dispose();
    }
}

/// <summary>Where callbacks go: <c>Gateway:Callback:Url</c>, else <c>http://127.0.0.1:${WS_PORT}${WS_URL}</c>, else nowhere.</summary>
internal sealed record CallbackTarget(Uri? Uri)
{
    public static CallbackTarget From(IConfiguration configuration)
    {
        var url = configuration["Gateway:Callback:Url"];
        if (!string.IsNullOrWhiteSpace(url))
        {
            return new CallbackTarget(new Uri(url, UriKind.Absolute));
        }

        var port = configuration["WS_PORT"];
        var path = configuration["WS_URL"];
        if (string.IsNullOrEmpty(port) || string.IsNullOrEmpty(path))
        {
            return new CallbackTarget((Uri?)null);
        }

        // Concatenated verbatim, as Olares does.
        return new CallbackTarget(new Uri($"http://127.0.0.1:{port}{path}", UriKind.Absolute));
    }
}
