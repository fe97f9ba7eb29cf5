using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Akka.Actor;
using Akka.Hosting;
using Gateway.Cluster;
using Gateway.Hosting;
using Gateway.Registry;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace Gateway.Admin;

/// <summary>
/// The admin API (<c>/tapr/ws/conn/*</c>), the admin page (<c>/admin/</c>, its live feed
/// <c>/admin/feed</c>) and the Prometheus scrape endpoint (<c>/metrics</c>): each API handler reads the
/// body, asks the registry, and writes the reply's exact bytes. Only loopback peers are answered unless
/// <c>Gateway:Admin:AllowRemote</c>; a configured admin port, then the peer, then the token (Bearer, or
/// Basic with the token as password so a browser can prompt for it) are checked, in that order.
/// </summary>
public static partial class AdminEndpoints
{
    private const int MaxBodyBytes = 4 * 1024 * 1024;
    /// <summary>The admin send's route (PROTOCOL.md §4, "Admin API").</summary>
    internal const string SendRoute = "/tapr/ws/conn/send";
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Maps <c>send</c>, <c>close</c>, <c>list</c>, <c>debug</c>, the admin page and its feed, and <c>/metrics</c>.</summary>
    public static WebApplication MapAdmin(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var options = app.Services.GetRequiredService<IOptions<GatewayOptions>>().Value;
        var admin = options.Admin;
        var runtime = app.Services.GetRequiredService<GatewayRuntime>();
        var tracing = app.Services.GetRequiredService<GatewayTracing>();

        var group = app.MapGroup(string.Empty).AddEndpointFilter(async (invocation, next) =>
        {
            var started = Stopwatch.GetTimestamp();
            var warmUp = false;
            try
            {
                if (!await AuthorizeAsync(invocation.HttpContext, admin).ConfigureAwait(false))
                {
                    return Results.Empty;
                }

                // The start-up warm-up's sends (AdminWarmUp), once authorized, are not counted (their handler keeps them
                // out of the rest).
                warmUp = invocation.HttpContext.GetEndpoint() is RouteEndpoint { RoutePattern.RawText: SendRoute }
                    && AdminWarmUp.IsWarmUp(invocation.HttpContext.Request);
                if (warmUp && invocation.HttpContext.Features.Get<IHttpMetricsTagsFeature>() is { } httpMetrics)
                {
                    httpMetrics.MetricsDisabled = true;
                }

                return await next(invocation).ConfigureAwait(false);
            }
            finally
            {
                // The API's routes only: the page's feed lasts as long as its viewer.
                if (!warmUp && invocation.HttpContext.GetEndpoint() is RouteEndpoint { RoutePattern.RawText: { } route } && route.StartsWith("/tapr/", StringComparison.Ordinal))
                {
                    runtime.Metrics.AdminRequest(route, Stopwatch.GetElapsedTime(started).TotalSeconds);
                }
            }
        });

        group.MapPost(SendRoute, context => SendAsync(context, runtime, tracing));
        group.MapPost("/tapr/ws/conn/close", context => CloseAsync(context, runtime, tracing, admin));
        group.MapGet("/tapr/ws/conn/list", context => ListAsync(context, runtime, tracing));
        group.MapPost("/tapr/ws/conn/debug", context => WriteJsonAsync(context, AdminResponses.Success));

        if (admin.Page)
        {
            var feed = app.Services.GetRequiredService<LiveFeed>();
            var page = AdminPage.Load();

            // Routing ignores a trailing slash: this serves "/admin/" and redirects "/admin" there, for the page's relative links.
            group.MapGet("/admin", context =>
            {
                if (context.Request.Path.Value?.EndsWith('/') == true)
                {
                    return page.ServeAsync(context, null);
                }

                context.Response.Redirect("/admin/");
                return Task.CompletedTask;
            });
            group.MapGet("/admin/feed", context => feed.ServeAsync(context));
            group.MapGet("/admin/{*file}", context => page.ServeAsync(context, context.Request.RouteValues["file"] as string));
        }

        if (!string.IsNullOrEmpty(options.Telemetry.PrometheusPath))
        {
            // OpenTelemetry's exporter renders the text; the access rule runs first in its branch.
            app.MapPrometheusScrapingEndpoint(
                options.Telemetry.PrometheusPath,
                meterProvider: null,
                configureBranchedPipeline: options.Telemetry.PrometheusOpen
                    ? null
                    : branch => branch.Use(async (context, next) =>
                    {
                        if (await AuthorizeAsync(context, admin).ConfigureAwait(false))
                        {
                            await next(context).ConfigureAwait(false);
                        }
                    }),
                optionsName: null);
        }

        return app;
    }

    private static async Task SendAsync(HttpContext context, GatewayRuntime runtime, GatewayTracing tracing)
    {
        // The start-up warm-up's sends are answered as any other but leave no trace beyond this node (AdminWarmUp).
        var warmUp = AdminWarmUp.IsWarmUp(context.Request);
        using var span = warmUp ? null : tracing.StartAdmin("send", context.Request);
        if (await ReadBodyAsync(context).ConfigureAwait(false) is not { } body)
        {
            return;
        }

        var (filter, message, error) = AdminRequests.ParseSend(body);
        if (error is not null)
        {
            Failed(span, error);
            await WriteJsonAsync(context, AdminResponses.Error(400, error)).ConfigureAwait(false);
            return;
        }

        RegistryProtocol.DeliveryReceipt receipt;
        if (Peers(context) is { } peers && !warmUp)
        {
            try
            {
                receipt = await peers.Ask<RegistryProtocol.DeliveryReceipt>(new PeersProtocol.ClusterSend(filter!, message!), AskTimeout).ConfigureAwait(false);
            }
            catch (PeersProtocol.PeerMessageTooLargeException tooLarge)
            {
                Failed(span, tooLarge.Message);
                await WriteJsonAsync(context, AdminResponses.Error(400, "send data invalid, " + tooLarge.Message)).ConfigureAwait(false);
                return;
            }
        }
        else
        {
            receipt = await runtime.Registry.Ask<RegistryProtocol.DeliveryReceipt>(new RegistryProtocol.SendToConnections(filter!, message!), AskTimeout).ConfigureAwait(false);
        }

        if (!warmUp)
        {
            runtime.Metrics.Sent(receipt.Matched, receipt.Enqueued, receipt.Dropped);
        }

        span?.SetTag("gateway.send.matched", receipt.Matched);
        span?.SetTag("gateway.send.enqueued", receipt.Enqueued);
        span?.SetTag("gateway.send.dropped", receipt.Dropped);
        await WriteJsonAsync(context, AdminResponses.Receipt(receipt)).ConfigureAwait(false);
    }

    private static async Task CloseAsync(HttpContext context, GatewayRuntime runtime, GatewayTracing tracing, AdminOptions admin)
    {
        using var span = tracing.StartAdmin("close", context.Request);
        if (await ReadBodyAsync(context).ConfigureAwait(false) is not { } body)
        {
            return;
        }

        var (filter, code, reason, error) = AdminRequests.ParseClose(body, admin.CloseAllOnEmptyFilter);
        if (error is not null)
        {
            Failed(span, error);
            await WriteJsonAsync(context, AdminResponses.Error(400, error)).ConfigureAwait(false);
            return;
        }

        var closed = Peers(context) is { } peers
            ? await peers.Ask<RegistryProtocol.ConnectionsClosed>(new PeersProtocol.ClusterClose(filter!, code, reason), AskTimeout).ConfigureAwait(false)
            : await runtime.Registry.Ask<RegistryProtocol.ConnectionsClosed>(new RegistryProtocol.CloseConnections(filter!, code, reason), AskTimeout).ConfigureAwait(false);
        span?.SetTag("gateway.close.matched", closed.Count);
        span?.SetTag("gateway.close.code", code);
        await WriteJsonAsync(context, AdminResponses.Success).ConfigureAwait(false);
    }

    private static async Task ListAsync(HttpContext context, GatewayRuntime runtime, GatewayTracing tracing)
    {
        using var span = tracing.StartAdmin("list", context.Request);
        if (Peers(context) is { } peers)
        {
            var cluster = await peers.Ask<PeersProtocol.ClusterConnectionList>(PeersProtocol.ClusterList.Instance, AskTimeout).ConfigureAwait(false);
            span?.SetTag("gateway.list.users", cluster.List.Users.Count);
            await WriteJsonAsync(context, AdminResponses.List(cluster.List, cluster.NodeOf, cluster.MissingNodes)).ConfigureAwait(false);
            return;
        }

        var list = await runtime.Registry.Ask<RegistryProtocol.ConnectionList>(RegistryProtocol.GetConnections.Instance, AskTimeout).ConfigureAwait(false);
        span?.SetTag("gateway.list.users", list.Users.Count);
        await WriteJsonAsync(context, AdminResponses.List(list)).ConfigureAwait(false);
    }

    private static void Failed(Activity? span, string error) => span?.SetStatus(ActivityStatusCode.Error, error);

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

        if (!string.IsNullOrEmpty(admin.Token) && !HasToken(context.Request.Headers.Authorization.ToString(), admin.Token))
        {
            // A browser asks for Basic credentials (any user name, the token as password) on the page.
            context.Response.Headers.WWWAuthenticate = context.Request.Path.StartsWithSegments("/admin")
                ? "Basic realm=\"gateway admin\", charset=\"UTF-8\""
                : "Bearer";
            await WriteJsonAsync(context, AdminResponses.Error(401, "missing or wrong admin token"), StatusCodes.Status401Unauthorized).ConfigureAwait(false);
            return false;
        }

        return true;
    }

    /// <summary><c>Bearer &lt;token&gt;</c>, or <c>Basic</c> credentials whose password is the token (the user name is ignored).</summary>
    private static bool HasToken(string authorization, string token)
    {
        if (authorization.StartsWith("Bearer ", StringComparison.Ordinal))
        {
            return SameSecret(authorization["Bearer ".Length..], token);
        }

        if (!authorization.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        try
        {
            var credentials = Encoding.UTF8.GetString(Convert.FromBase64String(authorization["Basic ".Length..].Trim()));
            var colon = credentials.IndexOf(':', StringComparison.Ordinal);
            return colon >= 0 && SameSecret(credentials[(colon + 1)..], token);
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <summary>Compares in time independent of where the strings differ, so the token cannot be guessed byte by byte.</summary>
    private static bool SameSecret(string given, string token) =>
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given), Encoding.UTF8.GetBytes(token));

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
