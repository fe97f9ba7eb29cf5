using System.Net;
using Akka.Actor;
using Akka.Hosting;
using Gateway.Callbacks;
using Gateway.Cluster;
using Gateway.Hosting;
using Gateway.Registry;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace Gateway.Admin;

/// <summary>
/// The admin API (<c>/tapr/ws/conn/*</c>) and <c>/metrics</c>: each handler reads the body, asks the
/// registry, and writes the reply's exact bytes. Only loopback peers are answered unless
/// <c>Gateway:Admin:AllowRemote</c>; a configured token or admin port is enforced first.
/// </summary>
public static partial class AdminEndpoints
{
    private const int MaxBodyBytes = 4 * 1024 * 1024;
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Maps <c>send</c>, <c>close</c>, <c>list</c>, <c>debug</c> and <c>/metrics</c>.</summary>
    public static WebApplication MapAdmin(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var admin = app.Services.GetRequiredService<IOptions<GatewayOptions>>().Value.Admin;
        var runtime = app.Services.GetRequiredService<GatewayRuntime>();
        var limiter = app.Services.GetRequiredService<ConnectionLimiter>();

        var group = app.MapGroup(string.Empty).AddEndpointFilter(async (invocation, next) =>
            await AuthorizeAsync(invocation.HttpContext, admin).ConfigureAwait(false) ? await next(invocation).ConfigureAwait(false) : Results.Empty);

        group.MapPost("/tapr/ws/conn/send", context => SendAsync(context, runtime));
        group.MapPost("/tapr/ws/conn/close", context => CloseAsync(context, runtime, admin));
        group.MapGet("/tapr/ws/conn/list", context => ListAsync(context, runtime));
        group.MapPost("/tapr/ws/conn/debug", context => WriteJsonAsync(context, AdminResponses.Success));
        group.MapGet("/metrics", async context =>
        {
            context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            var callbacks = context.RequestServices.GetRequiredService<IRequiredActor<CallbackActor>>().ActorRef;
            await context.Response.WriteAsync(await GatewayServiceCollectionExtensions.RenderMetricsAsync(runtime, callbacks, limiter, Peers(context)).ConfigureAwait(false)).ConfigureAwait(false);
        });
        return app;
    }

    private static async Task SendAsync(HttpContext context, GatewayRuntime runtime)
    {
        if (await ReadBodyAsync(context).ConfigureAwait(false) is not { } body)
        {
            return;
        }

        var (filter, message, error) = AdminRequests.ParseSend(body);
        if (error is not null)
        {
            await WriteJsonAsync(context, AdminResponses.Error(400, error)).ConfigureAwait(false);
            return;
        }

        RegistryProtocol.DeliveryReceipt receipt;
        if (Peers(context) is { } peers)
        {
            try
            {
                receipt = await peers.Ask<RegistryProtocol.DeliveryReceipt>(new PeersProtocol.ClusterSend(filter!, message!), AskTimeout).ConfigureAwait(false);
            }
            catch (PeersProtocol.PeerMessageTooLargeException tooLarge)
            {
                await WriteJsonAsync(context, AdminResponses.Error(400, "send data invalid, " + tooLarge.Message)).ConfigureAwait(false);
                return;
            }
        }
        else
        {
            receipt = await runtime.Registry.Ask<RegistryProtocol.DeliveryReceipt>(new RegistryProtocol.SendToConnections(filter!, message!), AskTimeout).ConfigureAwait(false);
        }

        runtime.Metrics.MessagesOut(receipt.Enqueued);
        await WriteJsonAsync(context, AdminResponses.Receipt(receipt)).ConfigureAwait(false);
    }

    private static async Task CloseAsync(HttpContext context, GatewayRuntime runtime, AdminOptions admin)
    {
        if (await ReadBodyAsync(context).ConfigureAwait(false) is not { } body)
        {
            return;
        }

        var (filter, code, reason, error) = AdminRequests.ParseClose(body, admin.CloseAllOnEmptyFilter);
        if (error is not null)
        {
            await WriteJsonAsync(context, AdminResponses.Error(400, error)).ConfigureAwait(false);
            return;
        }

        if (Peers(context) is { } peers)
        {
            await peers.Ask<RegistryProtocol.ConnectionsClosed>(new PeersProtocol.ClusterClose(filter!, code, reason), AskTimeout).ConfigureAwait(false);
        }
        else
        {
            await runtime.Registry.Ask<RegistryProtocol.ConnectionsClosed>(new RegistryProtocol.CloseConnections(filter!, code, reason), AskTimeout).ConfigureAwait(false);
        }

        await WriteJsonAsync(context, AdminResponses.Success).ConfigureAwait(false);
    }

    private static async Task ListAsync(HttpContext context, GatewayRuntime runtime)
    {
        if (Peers(context) is { } peers)
        {
            var cluster = await peers.Ask<PeersProtocol.ClusterConnectionList>(PeersProtocol.ClusterList.Instance, AskTimeout).ConfigureAwait(false);
            await WriteJsonAsync(context, AdminResponses.List(cluster.List, cluster.NodeOf, cluster.MissingNodes)).ConfigureAwait(false);
            return;
        }

        var list = await runtime.Registry.Ask<RegistryProtocol.ConnectionList>(RegistryProtocol.GetConnections.Instance, AskTimeout).ConfigureAwait(false);
        await WriteJsonAsync(context, AdminResponses.List(list)).ConfigureAwait(false);
    }

    /// <summary>With clustering on, the <see cref="PeersActor"/> that runs admin calls on every node; null otherwise.</summary>
    private static IActorRef? Peers(HttpContext context) =>
        context.RequestServices.GetRequiredService<ActorRegistry>().TryGet<PeersActor>(out var peers) ? peers : null;

    private static async Task<bool> AuthorizeAsync(HttpContext context, AdminOptions admin)
    {
        var connection = context.Connection;
        if (admin.Port is { } port && connection.LocalPort != port)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return false;
        }

        if (!admin.AllowRemote && connection.RemoteIpAddress is { } remote && !IPAddress.IsLoopback(remote))
        {
            Log.RemoteRefused(context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Gateway.Admin"), remote.ToString(), context.Request.Path);
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            await WriteJsonAsync(context, AdminResponses.Error(403, "the admin API only answers loopback peers"), StatusCodes.Status403Forbidden).ConfigureAwait(false);
            return false;
        }

        if (!string.IsNullOrEmpty(admin.Token)
            && !string.Equals(context.Request.Headers.Authorization.ToString(), "Bearer " + admin.Token, StringComparison.Ordinal))
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
            await WriteJsonAsync(context, AdminResponses.Error(401, "missing or wrong admin token"), StatusCodes.Status401Unauthorized).ConfigureAwait(false);
            return false;
        }

        return true;
    }

    /// <summary>The request body, at most 4 MiB; null (and 413 written) above that.</summary>
    private static async Task<ReadOnlyMemory<byte>?> ReadBodyAsync(HttpContext context)
    {
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = MaxBodyBytes;
        }

        if (context.Request.ContentLength > MaxBodyBytes)
        {
            context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
            return null;
        }

        try
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer, context.RequestAborted).ConfigureAwait(false);
            if (buffer.Length > MaxBodyBytes)
            {
                context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
                return null;
            }

            return buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
        }
        catch (BadHttpRequestException exception) when (exception.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
            return null;
        }
    }

    private static Task WriteJsonAsync(HttpContext context, byte[] json, int status = StatusCodes.Status200OK)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = json.Length;
        return context.Response.Body.WriteAsync(json).AsTask();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 900, Level = LogLevel.Warning, Message = "Admin call from non-loopback peer {Remote} to {Path} refused (set Gateway:Admin:AllowRemote to allow)")]
        public static partial void RemoteRefused(ILogger logger, string remote, string path);
    }
}
