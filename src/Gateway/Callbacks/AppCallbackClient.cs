using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using Gateway.Hosting;

namespace Gateway.Callbacks;

/// <summary>What one callback attempt came to.</summary>
internal enum CallbackOutcome
{
    /// <summary>2xx (or another non-error status): delivered.</summary>
    Delivered,

    /// <summary>4xx: the app's considered answer; logged and not retried.</summary>
    Rejected,

    /// <summary>A transport error, a timeout or a 5xx: retried while the app is unreachable.</summary>
    Transient,
}

/// <summary>The result of one attempt; <see cref="Body"/> only when asked for.</summary>
internal sealed record CallbackResult(CallbackOutcome Outcome, int Status, string Reason, byte[]? Body = null);

/// <summary>Sends callbacks to the app over a pooled keep-alive HTTP client.</summary>
internal interface IAppCallbackClient
{
    /// <summary>The callback URL, or <see langword="null"/> when callbacks are off.</summary>
    Uri? Target { get; }

    Task<CallbackResult> PostAsync(byte[] body, string cookie, bool readBody, TimeSpan timeout, CancellationToken cancellationToken);
}

/// <summary>
/// Sends callbacks to the app over a pooled keep-alive HTTP client. Each attempt is measured
/// (<c>gateway.callback.duration</c>, <c>gateway.callback.active_requests</c>) and carries the W3C
/// <c>traceparent</c> of <see cref="Activity.Current"/>, the delivery span, when there is one.
/// </summary>
internal sealed class AppCallbackClient : IAppCallbackClient, IDisposable
{
    private const int MaxResponseBytes = 4 * 1024 * 1024;
    private static readonly MediaTypeHeaderValue Json = new("application/json");

    private readonly HttpClient _client;
    private readonly GatewayMetrics? _metrics;

    public AppCallbackClient(Uri? target, int maxConnections, GatewayMetrics? metrics = null)
    {
        Target = target;
        _metrics = metrics;
        _client = new HttpClient(new SocketsHttpHandler
        {
            // The Cookie header is the client's, forwarded as is: no cookie container of our own.
            UseCookies = false,
            AllowAutoRedirect = false,
            UseProxy = false,
            MaxConnectionsPerServer = Math.Max(1, maxConnections),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
            PooledConnectionLifetime = TimeSpan.FromMinutes(10),
            ConnectTimeout = TimeSpan.FromSeconds(2),

            // The traceparent is the delivery span's, set below; the handler adds none of its own.
            ActivityHeadersPropagator = null,
        })
        {
            Timeout = System.Threading.Timeout.InfiniteTimeSpan,

            // Responses are read whole (so the keep-alive connection goes back to the pool) and bounded.
            MaxResponseContentBufferSize = MaxResponseBytes,
        };
    }

    public Uri? Target { get; }

    public async Task<CallbackResult> PostAsync(byte[] body, string cookie, bool readBody, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        attempt.CancelAfter(timeout);
        using var request = new HttpRequestMessage(HttpMethod.Post, Target)
        {
            Content = new ByteArrayContent(body),
            Version = HttpVersion.Version11,
        };
        request.Content.Headers.ContentType = Json;
        request.Headers.TryAddWithoutValidation("Cookie", cookie);
        if (Activity.Current is { } delivery)
        {
            request.Headers.TryAddWithoutValidation("traceparent", delivery.Id);
            if (!string.IsNullOrEmpty(delivery.TraceStateString))
            {
                request.Headers.TryAddWithoutValidation("tracestate", delivery.TraceStateString);
            }
        }

        var started = Stopwatch.GetTimestamp();
        _metrics?.CallbackStarted();
        CallbackResult? result = null;
        try
        {
            result = await SendAsync(request, readBody, timeout, attempt.Token, cancellationToken).ConfigureAwait(false);
            return result;
        }
        finally
        {
            _metrics?.CallbackEnded(
                result?.Outcome switch
                {
                    CallbackOutcome.Delivered => "delivered",
                    CallbackOutcome.Rejected => "rejected",
                    CallbackOutcome.Transient => "transient",
                    _ => "cancelled",
                },
                result?.Status ?? 0,
                Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
    }

    private async Task<CallbackResult> SendAsync(HttpRequestMessage request, bool readBody, TimeSpan timeout, CancellationToken attemptToken, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseContentRead, attemptToken).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            byte[]? responseBody = null;
            if (readBody && status < 300)
            {
                responseBody = await response.Content.ReadAsByteArrayAsync(attemptToken).ConfigureAwait(false);
            }

            return status switch
            {
                >= 500 => new CallbackResult(CallbackOutcome.Transient, status, $"app answered {status}"),
                >= 400 => new CallbackResult(CallbackOutcome.Rejected, status, $"app answered {status}"),
                _ => new CallbackResult(CallbackOutcome.Delivered, status, "delivered", responseBody),
            };
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new CallbackResult(CallbackOutcome.Transient, 0, $"timed out after {timeout.TotalMilliseconds:0} ms");
        }
        catch (HttpRequestException exception)
        {
            return new CallbackResult(CallbackOutcome.Transient, 0, exception.HttpRequestError == HttpRequestError.Unknown ? exception.Message : exception.HttpRequestError.ToString());
        }
        catch (IOException exception)
        {
            return new CallbackResult(CallbackOutcome.Transient, 0, exception.Message);
        }
    }

    public void Dispose() => _client.Dispose();
}
