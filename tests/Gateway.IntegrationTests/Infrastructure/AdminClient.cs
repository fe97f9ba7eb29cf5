using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>An admin API answer: the HTTP status and the exact body.</summary>
public sealed record AdminResponse(HttpStatusCode Status, byte[] Body, string? ContentType)
{
    /// <summary>The body as UTF-8 text.</summary>
    public string Text => Encoding.UTF8.GetString(Body);

    public override string ToString() => $"{(int)Status} {Text}";
}

/// <summary>Calls the gateway's admin API with raw bodies, so tests can send exactly the bytes an app sends.</summary>
public sealed class AdminClient(GatewayProcess gateway)
{
    /// <summary>Sent as <c>Authorization: Bearer &lt;token&gt;</c> when set.</summary>
    public string? BearerToken { get; set; }

    /// <summary><c>POST /tapr/ws/conn/send</c> with <paramref name="body"/> as is.</summary>
    public Task<AdminResponse> SendAsync(string body) => PostAsync("/tapr/ws/conn/send", body);

    /// <summary><c>POST /tapr/ws/conn/close</c> with <paramref name="body"/> as is.</summary>
    public Task<AdminResponse> CloseAsync(string body) => PostAsync("/tapr/ws/conn/close", body);

    /// <summary><c>POST /tapr/ws/conn/debug</c>.</summary>
    public Task<AdminResponse> DebugAsync(string body = "{}") => PostAsync("/tapr/ws/conn/debug", body);

    /// <summary><c>GET /tapr/ws/conn/list</c>.</summary>
    public Task<AdminResponse> ListAsync() => GetAsync("/tapr/ws/conn/list");

    /// <summary>
    /// The sum of every <c>/metrics</c> series named <paramref name="name"/> (Prometheus name, e.g.
    /// <c>gateway_connection_active</c>) whose labels include all of <paramref name="labels"/>; throws when
    /// no series of that name is exported at all.
    /// </summary>
    public async Task<double> MetricAsync(string name, params (string Label, string Value)[] labels)
    {
        var (sum, text) = await SumSeriesAsync(name, labels).ConfigureAwait(false);
        return sum ?? throw new InvalidOperationException($"No metric {name} in:\n{text}");
    }

    /// <summary>
    /// As <see cref="MetricAsync"/>, but null while no series of that name is exported yet: for waiting on a counter
    /// whose first increment may come after the event the test saw (a series appears with its first measurement).
    /// </summary>
    public async Task<double?> MetricOrNullAsync(string name, params (string Label, string Value)[] labels) =>
        (await SumSeriesAsync(name, labels).ConfigureAwait(false)).Sum;

    /// <summary>One scrape: the sum of the matching series of <paramref name="name"/> (null if none of that name), and the text.</summary>
    private async Task<(double? Sum, string Text)> SumSeriesAsync(string name, (string Label, string Value)[] labels)
    {
        var response = await GetAsync("/metrics").ConfigureAwait(false);
        var series = PrometheusText.Parse(response.Text).Where(s => s.Name == name).ToList();
        var sum = series.Count == 0
            ? (double?)null
            : series.Where(s => labels.All(l => s.Labels.TryGetValue(l.Label, out var value) && value == l.Value)).Sum(s => s.Value);
        return (sum, response.Text);
    }

    /// <summary>A POST of raw bytes to any path, with <c>Content-Type: application/json</c> unless <paramref name="contentType"/> says otherwise (null: none).</summary>
    public Task<AdminResponse> PostAsync(string path, string body, string? contentType = "application/json") =>
        PostAsync(path, new ByteArrayContent(Encoding.UTF8.GetBytes(body)), contentType);

    /// <summary>A POST of <paramref name="content"/> to any path.</summary>
    public async Task<AdminResponse> PostAsync(string path, HttpContent content, string? contentType = "application/json")
    {
        if (contentType is not null)
        {
            content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
        return await SendRequestAsync(request).ConfigureAwait(false);
    }

    /// <summary>A GET of any path.</summary>
    public async Task<AdminResponse> GetAsync(string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        return await SendRequestAsync(request).ConfigureAwait(false);
    }

    /// <summary>Sends <paramref name="request"/> with the bearer token, if any, and reads the whole answer.</summary>
    public async Task<AdminResponse> SendRequestAsync(HttpRequestMessage request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (BearerToken is not null && request.Headers.Authorization is null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", BearerToken);
        }

        using var response = await gateway.Http.SendAsync(request).ConfigureAwait(false);
        var body = await response.Content.ReadAsByteArrayAsync().ConfigureAwait(false);
        return new AdminResponse(response.StatusCode, body, response.Content.Headers.ContentType?.ToString());
    }
}
