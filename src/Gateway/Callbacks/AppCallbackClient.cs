using System.Net;
using System.Net.Http.Headers;

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

/// <inheritdoc/>
internal sealed class AppCallbackClient : IAppCallbackClient, IDisposable
{
    private const int MaxResponseBytes = 4 * 1024 * 1024;
    private static readonly MediaTypeHeaderValue Json = new("application/json");

    private readonly HttpClient _client;

    public AppCallbackClient(Uri? target, int maxConnections)
    {
        Target = target;
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
        try
        {
            using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseContentRead, attempt.Token).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            byte[]? responseBody = null;
            if (readBody && status < 300)
            {
                responseBody = await response.Content.ReadAsByteArrayAsync(attempt.Token).ConfigureAwait(false);
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
