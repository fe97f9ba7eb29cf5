using System.Diagnostics;

namespace Gateway.Hosting;

/// <summary>
/// The gateway's <see cref="ActivitySource"/> (<c>Gateway</c>): a span per callback delivery
/// (<c>callback open|message|close</c>, kind Client, one event per attempt) and per admin request
/// (<c>admin send|close|list</c>, kind Server, with the receipt). Spans exist only while a listener
/// (an OpenTelemetry tracer provider, switched on by <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>) samples them;
/// otherwise starting one is a listener check that returns null.
/// </summary>
internal sealed class GatewayTracing : IDisposable
{
    /// <summary>The source's name, what a tracer provider's <c>AddSource</c> names.</summary>
    public const string SourceName = "Gateway";

    public ActivitySource Source { get; } = new(SourceName);

    /// <summary>
    /// Starts a callback delivery span as the root of a new trace (a client frame carries no trace
    /// context), without making it <see cref="Activity.Current"/> on the calling thread (an actor's).
    /// </summary>
    public Activity? StartCallback(string action, string connectionId)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        var previous = Activity.Current;
        Activity.Current = null;
        try
        {
            var activity = Source.StartActivity("callback " + action, ActivityKind.Client);
            activity?.SetTag("gateway.callback.action", action);
            activity?.SetTag("gateway.connection.id", connectionId);
            return activity;
        }
        finally
        {
            Activity.Current = previous;
        }
    }

    /// <summary>
    /// Starts an admin request span as a child of the request's W3C <c>traceparent</c> (the app's span),
    /// or as the root of a new trace when there is none; ASP.NET Core's own request activity (which exists only
    /// while its <c>Microsoft.AspNetCore.Hosting.Diagnostics</c> logging is on) is not exported and is left out of
    /// the chain. The span becomes <see cref="Activity.Current"/> for the
    /// rest of the (async) handler.
    /// </summary>
    public Activity? StartAdmin(string operation, HttpRequest request)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        ActivityContext.TryParse(request.Headers.TraceParent.ToString(), request.Headers.TraceState.ToString(), isRemote: true, out var parent);
        Activity.Current = null;
        return Source.StartActivity("admin " + operation, ActivityKind.Server, parent);
    }

    public void Dispose() => Source.Dispose();
}
