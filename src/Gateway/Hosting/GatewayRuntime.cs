using Akka.Actor;
using Akka.Hosting;
using Gateway.Registry;
using Gateway.WebSockets;
using Microsoft.Extensions.Options;

namespace Gateway.Hosting;

/// <summary>
/// What every socket session shares: the socket settings, the process-wide inbound budget, metrics,
/// and the registry it registers with (from Akka.Hosting's <see cref="ActorRegistry"/>).
/// </summary>
internal sealed class GatewayRuntime(IOptions<GatewayOptions> options, GatewayMetrics metrics, IRequiredActor<RegistryActor> registry)
{
    public GatewayOptions Options { get; } = options.Value;

    public GatewayMetrics Metrics { get; } = metrics;

    /// <summary><c>/user/registry</c>; available once the actor system has started (before Kestrel accepts).</summary>
    public IActorRef Registry => registry.ActorRef;

    public WebSocketSettings Socket { get; } = new(
        options.Value.Limits.MaxMessageBytes,
        options.Value.Limits.OutboundQueueBytes,
        options.Value.Limits.OutboundQueueMessages,
        options.Value.Limits.CloseHandshakeTimeout,
        options.Value.Sockets.ReadBufferBytes);

    public InboundBudget InboundBudget { get; } = new(options.Value.Limits.InboundPendingBytesTotal);

    /// <summary>A fresh inbound flow for one connection.</summary>
    public InboundFlow NewInboundFlow() => new(Options.Limits.InboundPendingBytesPerConnection, InboundBudget);
}

/// <summary>Where callbacks go: <c>Gateway:Callback:Url</c>, else <c>http://127.0.0.1:${WS_PORT}${WS_URL}</c>, else nowhere.</summary>
internal sealed record CallbackTarget(Uri? Uri)
{
    /// <exception cref="OptionsValidationException">The URL, or the one <c>WS_PORT</c> and <c>WS_URL</c> make, is not an absolute http(s) URL.</exception>
    public static CallbackTarget From(IConfiguration configuration)
    {
        var url = configuration["Gateway:Callback:Url"];
        if (!string.IsNullOrWhiteSpace(url))
        {
            return new CallbackTarget(Parse(url, "Gateway:Callback:Url"));
        }

        var port = configuration["WS_PORT"];
        var path = configuration["WS_URL"];
        if (string.IsNullOrEmpty(port) || string.IsNullOrEmpty(path))
        {
            return new CallbackTarget((Uri?)null);
        }

        // Concatenated verbatim, as Olares does.
        return new CallbackTarget(Parse($"http://127.0.0.1:{port}{path}", "WS_PORT and WS_URL"));
    }

    private static Uri Parse(string url, string source) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? uri
            : throw new OptionsValidationException(
                Options.DefaultName, typeof(GatewayOptions), [$"The callback URL from {source} ('{url}') is not an absolute http:// or https:// URL."]);
}
