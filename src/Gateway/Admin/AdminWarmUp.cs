using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Gateway.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;

namespace Gateway.Admin;

/// <summary>
/// Once the server listens, sends <see cref="AdminOptions.WarmUpRequests"/> admin sends to this process's own listener
/// (over loopback; to the bound address itself only when that is a specific remote one and
/// <see cref="AdminOptions.AllowRemote"/> is on), one after another on one keep-alive connection. Kestrel's HTTP/1.1
/// path, the admin handler and the send's way through the registry (not the metrics it skips) then reach tier-1 code,
/// normally before the app's first broadcasts (<c>/readyz</c> does not wait for it): after a restart, the first
/// broadcasts otherwise pay for that compiling (performance.md, "Eighteenth session").
/// </summary>
/// <remarks>
/// Each request is a send to a user nobody is (a random name), so nothing is delivered; the send's delivery to sockets
/// and the cluster path are not warmed. It carries <see cref="HeaderName"/> with this process's random secret, and the
/// handler answers an authorized request so marked like any send but records no metric or span and keeps it on this
/// node (<see cref="IsWarmUp"/>). The client's own instruments go to a meter nothing listens to. Its one connection and
/// its requests still show, while they last, in Kestrel's <c>kestrel.active_connections</c> and ASP.NET Core's
/// <c>http.server.active_requests</c>. Any failure (a refused address, a status other than 200, 5 s without an answer)
/// ends the warm-up with a debug log line, and the host stopping ends it quietly; the gateway runs on as it would
/// without it.
/// </remarks>
internal sealed partial class AdminWarmUp(IServer server, IHostApplicationLifetime lifetime, IOptions<GatewayOptions> options, ILogger<AdminWarmUp> log) : BackgroundService
{
    /// <summary>The request header that marks a warm-up request; its value is <see cref="Secret"/>.</summary>
    internal const string HeaderName = "Gateway-Warm-Up";

    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan CountingPause = TimeSpan.FromMilliseconds(250);
    private const int FirstRound = 20;

    // Random per process: only this process's warm-up is exempt from the admin API's metrics.
    private static readonly string Secret = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
    private static readonly byte[] SecretBytes = Encoding.ASCII.GetBytes(Secret);

    /// <summary>
    /// How many warm-up requests were answered with 200; final once <see cref="BackgroundService.ExecuteTask"/> has ended.
    /// </summary>
    internal int Answered { get; private set; }

    /// <summary>
    /// True for a request this process's warm-up sent: <see cref="HeaderName"/> carries its secret (compared in constant
    /// time).
    /// </summary>
    internal static bool IsWarmUp(HttpRequest request) =>
        request.Headers.TryGetValue(HeaderName, out var value)
        && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(value.ToString()), SecretBytes);

    /// <summary>
    /// The base address to warm up: the first plain-HTTP address the server reports, on <paramref name="admin"/>'s port
    /// when one is set, with a wildcard host (<c>0.0.0.0</c>, or <c>[::]</c>, which Kestrel binds dual-mode and reports
    /// for <c>*</c> and <c>+</c>) or <c>localhost</c> replaced by 127.0.0.1. Null when there is none: only TLS, Unix
    /// sockets, or only non-loopback addresses while <see cref="AdminOptions.AllowRemote"/> is off (the admin API would
    /// refuse the request).
    /// </summary>
    internal static Uri? TargetFor(IEnumerable<string> addresses, AdminOptions admin)
    {
        foreach (var address in addresses)
        {
            if (address.StartsWith("http://unix:", StringComparison.OrdinalIgnoreCase)
                || !Uri.TryCreate(address, UriKind.Absolute, out var uri)
                || uri.Scheme != Uri.UriSchemeHttp
                || (admin.Port is { } port && uri.Port != port))
            {
                continue;
            }

            var ip = uri.HostNameType is UriHostNameType.IPv4 or UriHostNameType.IPv6 ? IPAddress.Parse(uri.DnsSafeHost) : null;
            var host = ip switch
            {
                not null when ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any) => "127.0.0.1",
                not null when IPAddress.IsLoopback(ip) || admin.AllowRemote => uri.Host,
                null when string.Equals(uri.Host, "localhost", StringComparison.OrdinalIgnoreCase) => "127.0.0.1",
                null when admin.AllowRemote => uri.Host,
                _ => null,
            };
            if (host is not null)
            {
                return new UriBuilder(Uri.UriSchemeHttp, host, uri.Port).Uri;
            }
        }

        return null;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // The host's stop cancels stoppingToken only after the drain (GatewayLifetime runs it on ApplicationStopping),
        // and a send after the actor system has gone would wait out its ask: stop at the first sign of the stop.
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, lifetime.ApplicationStopping);
        try
        {
            var admin = options.Value.Admin;
            if (admin.WarmUpRequests > 0 && await StartedAsync(stopping.Token).ConfigureAwait(false))
            {
                var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
                if (TargetFor(addresses, admin) is { } target)
                {
                    await WarmUpAsync(target, admin, stopping.Token).ConfigureAwait(false);
                }
                else
                {
                    Log.NoAddress(log, string.Join(", ", addresses));
                }
            }
        }
        catch (Exception exception)
        {
            // An optional optimisation: nothing it meets may stop the host (BackgroundService's default would).
            if (!stopping.IsCancellationRequested)
            {
                Log.Failed(log, Answered, exception.Message);
            }
        }
    }

    private async Task<bool> StartedAsync(CancellationToken stoppingToken)
    {
        var started = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult(true)))
        using (stoppingToken.Register(() => started.TrySetResult(false)))
        {
            return await started.Task.ConfigureAwait(false);
        }
    }

    private async Task WarmUpAsync(Uri target, AdminOptions admin, CancellationToken stoppingToken)
    {
        using var meters = new UnheardMeterFactory();
        using var handler = new SocketsHttpHandler { UseProxy = false, UseCookies = false, MeterFactory = meters };
        using var client = new HttpClient(handler) { BaseAddress = target, Timeout = RequestTimeout };
        client.DefaultRequestHeaders.Add(HeaderName, Secret);
        if (!string.IsNullOrEmpty(admin.Token))
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", admin.Token);
        }

        // Shaped as an app's usual send (a user filter and an object payload), to a user nobody is.
        var user = "warm-up-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        var body = Encoding.UTF8.GetBytes($"{{\"users\":[\"{user}\"],\"payload\":{{\"warmUp\":true}}}}");
        var started = Stopwatch.GetTimestamp();
        try
        {
            for (var i = 0; i < admin.WarmUpRequests; i++)
            {
                if (i == FirstRound)
                {
                    // Calls count towards tier 1 only once no new method has been compiled for a while
                    // (TieredCompilation.CallCountingDelayMs, 20 ms here, 10 times that on one CPU): the first round
                    // compiles the path, the rest are counted.
                    await Task.Delay(CountingPause, stoppingToken).ConfigureAwait(false);
                }

                using var content = new ByteArrayContent(body);
                content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                using var response = await client.PostAsync(AdminEndpoints.SendRoute, content, stoppingToken).ConfigureAwait(false);
                await response.Content.ReadAsByteArrayAsync(stoppingToken).ConfigureAwait(false);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    Log.Stopped(log, Answered, target, $"status {(int)response.StatusCode}");
                    return;
                }

                Answered++;
            }

            Log.Done(log, Answered, target, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
        {
            Log.Stopped(log, Answered, target, exception.Message);
        }
    }

    /// <summary>
    /// Gives the warm-up's client meters under a name no exporter adds, so its requests are not counted among the
    /// callbacks' (<c>http.client.*</c>); an instrument nobody listens to also costs the client nothing.
    /// </summary>
    private sealed class UnheardMeterFactory : IMeterFactory
    {
        private readonly List<Meter> _meters = [];

        public Meter Create(MeterOptions options)
        {
            var meter = new Meter("Gateway.Admin.WarmUp", options.Version);
            lock (_meters)
            {
                _meters.Add(meter);
            }

            return meter;
        }

        public void Dispose()
        {
            lock (_meters)
            {
                _meters.ForEach(meter => meter.Dispose());
                _meters.Clear();
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 920, Level = LogLevel.Debug, Message = "Warm-up: {Count} admin sends to {Target} answered in {Milliseconds:F0} ms")]
        public static partial void Done(ILogger logger, int count, Uri target, double milliseconds);

        [LoggerMessage(EventId = 921, Level = LogLevel.Debug, Message = "Warm-up stopped after {Count} admin sends to {Target}: {Reason}")]
        public static partial void Stopped(ILogger logger, int count, Uri target, string reason);

        [LoggerMessage(EventId = 922, Level = LogLevel.Debug, Message = "Warm-up failed after {Count} admin sends: {Reason}")]
        public static partial void Failed(ILogger logger, int count, string reason);

        [LoggerMessage(EventId = 923, Level = LogLevel.Debug, Message = "No warm-up: no plain-HTTP loopback or wildcard address to send to among {Addresses}")]
        public static partial void NoAddress(ILogger logger, string addresses);
    }
}
