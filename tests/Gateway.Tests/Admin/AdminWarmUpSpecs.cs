using System.Net;
using System.Net.Sockets;
using Gateway.Admin;
using Gateway.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Gateway.Tests.Admin;

/// <summary>
/// Which address the start-up warm-up calls, and when it runs at all; its requests against a real gateway are in the
/// integration tests' <c>AdminWarmUpSpecs</c>.
/// </summary>
public sealed class AdminWarmUpSpecs
{
    [Theory]
    [InlineData("http://0.0.0.0:40010", "http://127.0.0.1:40010/")]
    [InlineData("http://[::]:40010", "http://127.0.0.1:40010/")]
    [InlineData("http://localhost:5000", "http://127.0.0.1:5000/")]
    [InlineData("http://127.0.0.1:43077", "http://127.0.0.1:43077/")]
    [InlineData("http://[::1]:43077", "http://[::1]:43077/")]
    public void A_wildcard_or_loopback_address_is_called_on_loopback(string address, string expected)
    {
        Assert.Equal(new Uri(expected), AdminWarmUp.TargetFor([address], new AdminOptions()));
    }

    [Theory]
    [InlineData("https://127.0.0.1:443")]
    [InlineData("http://unix:/tmp/gateway.sock")]
    [InlineData("http://10.1.2.3:40010")]
    [InlineData("http://gateway.example:40010")]
    public void Tls_a_unix_socket_or_a_remote_address_is_not_called(string address)
    {
        Assert.Null(AdminWarmUp.TargetFor([address], new AdminOptions()));
    }

    [Fact]
    public void With_remote_admin_calls_allowed_a_remote_address_is_called()
    {
        Assert.Equal(new Uri("http://10.1.2.3:40010/"), AdminWarmUp.TargetFor(["http://10.1.2.3:40010"], new AdminOptions { AllowRemote = true }));
    }

    [Fact]
    public void The_first_plain_http_address_is_called_and_with_an_admin_port_only_that_port()
    {
        string[] addresses = ["https://0.0.0.0:443", "http://0.0.0.0:40010", "http://127.0.0.1:40011"];

        Assert.Equal(new Uri("http://127.0.0.1:40010/"), AdminWarmUp.TargetFor(addresses, new AdminOptions()));
        Assert.Equal(new Uri("http://127.0.0.1:40011/"), AdminWarmUp.TargetFor(addresses, new AdminOptions { Port = 40011 }));
        Assert.Null(AdminWarmUp.TargetFor(addresses, new AdminOptions { Port = 40012 }));
    }

    [Fact]
    public async Task With_0_requests_it_ends_at_once_and_never_looks_for_the_servers_address()
    {
        using var run = await Run.StartAsync(requests: 0);

        run.Lifetime.Start();

        await run.EndedAsync();
        Assert.Equal(0, run.Server.FeatureReads);
    }

    [Fact]
    public async Task It_looks_for_the_servers_address_only_once_started_and_a_stop_before_that_ends_it()
    {
        using var run = await Run.StartAsync(requests: 100);

        await run.WarmUp.StopAsync(CancellationToken.None);

        await run.EndedAsync();
        Assert.Equal(0, run.Server.FeatureReads);
    }

    [Fact]
    public async Task A_stop_signalled_by_the_application_ends_it_before_the_host_stops()
    {
        using var run = await Run.StartAsync(requests: 100);

        run.Lifetime.Stop();

        await run.EndedAsync();
        Assert.Equal(0, run.Server.FeatureReads);
    }

    [Fact]
    public async Task Once_started_it_calls_the_servers_address_and_a_refused_connection_ends_it_quietly()
    {
        using var run = await Run.StartAsync(requests: 100);

        run.Lifetime.Start();

        await run.EndedAsync();
        Assert.Equal(1, run.Server.FeatureReads);
        Assert.Equal(0, run.WarmUp.Answered);
        var (level, eventId) = Assert.Single(run.Log.Entries);
        Assert.Equal((LogLevel.Debug, 921), (level, eventId.Id)); // "Warm-up stopped after 0 admin sends ..."
    }

    /// <summary>A started warm-up over a <see cref="Server"/> and a <see cref="Lifetime"/> the test drives.</summary>
    private sealed class Run : IDisposable
    {
        private Run(int requests)
        {
            WarmUp = new AdminWarmUp(Server, Lifetime, Options.Create(new GatewayOptions { Admin = { WarmUpRequests = requests } }), Log);
        }

        public Server Server { get; } = new();

        public RecordingLogger Log { get; } = new();

        public Lifetime Lifetime { get; } = new();

        public AdminWarmUp WarmUp { get; }

        public static async Task<Run> StartAsync(int requests)
        {
            var run = new Run(requests);
            await run.WarmUp.StartAsync(CancellationToken.None);
            return run;
        }

        /// <summary>
        /// Until the service's task has ended, in any state: a stop that comes before the thread pool ran it cancels it
        /// unrun (BackgroundService on .NET 10 starts it with Task.Run under the stopping token).
        /// </summary>
        public Task EndedAsync() => Task.WhenAny(WarmUp.ExecuteTask!).WaitAsync(TimeSpan.FromSeconds(10));

        public void Dispose()
        {
            WarmUp.Dispose();
            Lifetime.Dispose();
            Server.Dispose();
        }
    }

    /// <summary>Every entry's level and event id, whatever the level.</summary>
    private sealed class RecordingLogger : ILogger<AdminWarmUp>
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<(LogLevel, EventId)> _entries = new();

        public IReadOnlyList<(LogLevel Level, EventId EventId)> Entries => [.. _entries];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            _entries.Enqueue((logLevel, eventId));
    }

    /// <summary>
    /// A server whose address refuses every connection (a port this test holds bound but never listens on, so no other
    /// process can take it meanwhile), counting reads of its features.
    /// </summary>
    private sealed class Server : IServer
    {
        private readonly FeatureCollection _features = new();
        private readonly Socket _port = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        private int _featureReads;

        public Server()
        {
            _port.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            var addresses = new ServerAddressesFeature();
            addresses.Addresses.Add($"http://127.0.0.1:{((IPEndPoint)_port.LocalEndPoint!).Port}");
            _features.Set<IServerAddressesFeature>(addresses);
        }

        public int FeatureReads => Volatile.Read(ref _featureReads);

        public IFeatureCollection Features
        {
            get
            {
                Interlocked.Increment(ref _featureReads);
                return _features;
            }
        }

        public Task StartAsync<TContext>(IHttpApplication<TContext> application, CancellationToken cancellationToken)
            where TContext : notnull => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public void Dispose() => _port.Dispose();
    }

    private sealed class Lifetime : IHostApplicationLifetime, IDisposable
    {
        private readonly CancellationTokenSource _started = new();
        private readonly CancellationTokenSource _stopping = new();

        public CancellationToken ApplicationStarted => _started.Token;

        public CancellationToken ApplicationStopping => _stopping.Token;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void Start() => _started.Cancel();

        public void Stop() => _stopping.Cancel();

        public void StopApplication() => Stop();

        public void Dispose()
        {
            _started.Dispose();
            _stopping.Dispose();
        }
    }
}
