using Akka.Hosting;
using Gateway.Admin;
using Gateway.Callbacks;
using Gateway.Cluster;
using Gateway.Dialects;
using Gateway.Registry;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace Gateway.Hosting;

/// <summary>Wires the gateway into an ASP.NET Core application.</summary>
public static partial class GatewayServiceCollectionExtensions
{
    /// <summary>The listen address when none is configured (<c>--urls</c>, <c>ASPNETCORE_URLS</c>, <c>Kestrel:Endpoints</c>).</summary>
    public const string DefaultUrl = "http://0.0.0.0:40010";

    /// <summary>
    /// Adds the gateway: options from the <c>Gateway</c> section, the actor system (Akka.Hosting's
    /// <c>AddAkka</c>, named <c>gateway</c>, with the callback and registry actors), the connection
    /// limit derived from the open-file limit, graceful shutdown, and Kestrel limits to match.
    /// </summary>
    public static WebApplicationBuilder AddGateway(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var configuration = builder.Configuration;
        var gateway = Bind(configuration);
        var callbackTarget = Validate(gateway, configuration);

        var urls = configuration[WebHostDefaults.ServerUrlsKey];
        var endpoints = configuration.GetSection("Kestrel:Endpoints");
        if (string.IsNullOrEmpty(urls) && !endpoints.Exists())
        {
            urls = DefaultUrl;
        }

        if (gateway.Admin.Port is { } adminPort && !string.IsNullOrEmpty(urls))
        {
            urls += $";http://{(gateway.Admin.AllowRemote ? "0.0.0.0" : "127.0.0.1")}:{adminPort}";
        }

        if (!string.IsNullOrEmpty(urls))
        {
            builder.WebHost.UseUrls(urls);
        }

        // Kestrel tells neither a transport nor a connection middleware which endpoints it wraps in TLS: the lean path
        // must not serve a plaintext upgrade on one of them, so it learns their ports from the same configuration.
        var tlsPorts = TlsPorts(urls, endpoints);

        var fileLimit = FileDescriptorLimit.RaiseToHardLimit();
        var openAtStart = FileDescriptorLimit.CountOpen();
        var maxConnections = gateway.Limits.MaxConnections > 0
            ? gateway.Limits.MaxConnections
            : ConnectionLimiter.ForFileLimit(fileLimit, gateway.Callback.MaxConcurrency, openAtStart);
        var callbackConcurrency = ConnectionLimiter.CallbackReserve(fileLimit, gateway.Callback.MaxConcurrency, openAtStart);

        var sockets = gateway.Sockets;
        builder.WebHost.UseSockets(transport =>
        {
            transport.MaxReadBufferSize = sockets.ReadBufferBytes;
            transport.MaxWriteBufferSize = sockets.WriteBufferBytes;
            transport.UnsafePreferInlineScheduling = sockets.InlineScheduling;
        });
        if (sockets.LeanPath && sockets.LeanTransport && !configuration.GetValue(TelemetrySetup.KestrelConnectionDurationKey, false))
        {
            // Registered after UseSockets: Kestrel binds each endpoint with the last registered transport that can bind it.
            builder.Services.AddSingleton<IConnectionListenerFactory>(services => ActivatorUtilities.CreateInstance<LeanListenerFactory>(services, tlsPorts));
        }

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            // The same bounds for connections through Kestrel's HTTP stack (wss://, the admin API); a request
            // head needs up to 32 KiB (Kestrel's header limit).
            kestrel.Limits.MaxRequestBufferSize = Math.Max(sockets.ReadBufferBytes, 64 * 1024);
            kestrel.Limits.MaxResponseBufferSize = sockets.WriteBufferBytes;

            kestrel.ConfigureEndpointDefaults(listen =>
            {
                // HTTP/1.1 only (PROTOCOL.md §1): the client endpoints upgrade HTTP/1.1 requests (RFC 6455), so HTTP/2
                // (h2 in ALPN, h2c, RFC 8441's extended CONNECT) is not advertised for requests it could not serve.
                listen.Protocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http1;
                if (gateway.Sockets.LeanPath)
                {
                    // On a TLS endpoint the middleware runs before the TLS handshake, so it only counts the connection there.
                    var tls = listen.IPEndPoint is { } endpoint && tlsPorts.Contains(endpoint.Port);
                    listen.Use(next => new WebSocketUpgradeMiddleware(next, listen.ApplicationServices, servesUpgrades: !tls).OnConnectionAsync);
                }
            });

            // User names and cookies arrive as UTF-8 bytes; decode them as such on both paths.
            kestrel.RequestHeaderEncodingSelector = static _ => System.Text.Encoding.UTF8;
            if (!gateway.Sockets.LeanPath)
            {
                // Without the lean path's middleware (which enforces the same cap), let Kestrel refuse at
                // accept: room for admin calls beyond the WebSocket cap, none for exhausting descriptors.
                kestrel.Limits.MaxConcurrentConnections = maxConnections + ConnectionLimiter.AdminHeadroom;
            }

            kestrel.Limits.MaxConcurrentUpgradedConnections = maxConnections;
            kestrel.Limits.MaxRequestBodySize = 4 * 1024 * 1024;
            kestrel.AddServerHeader = false;
            if (gateway.Admin.Port is { } port && endpoints.Exists() && !DeclaresPort(endpoints, port))
            {
                // Kestrel:Endpoints override URLs (ASPNETCORE_URLS too, which the container image sets), so the admin port
                // is one more endpoint beside them: Kestrel binds both its configured and its coded endpoints. An endpoint
                // an operator declared on that port already serves it.
                kestrel.Listen(gateway.Admin.AllowRemote ? System.Net.IPAddress.Any : System.Net.IPAddress.Loopback, port);
            }
        });
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = gateway.Shutdown.Timeout + TimeSpan.FromSeconds(10));

        builder.Services.AddOptions<GatewayOptions>()
            .Bind(configuration.GetSection(GatewayOptions.SectionName))
            .PostConfigure(options => options.Callback.MaxConcurrency = Math.Min(options.Callback.MaxConcurrency, callbackConcurrency))
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<GatewayOptions>, GatewayOptionsValidator>();
        // The slim builder registers only the simple console formatter and pins it; this adds json and systemd
        // and lets Logging:Console:FormatterName choose (env Logging__Console__FormatterName=json).
        builder.Logging.AddConsole();
        if (configuration["Logging:Console:FormatterName"] is { Length: > 0 } formatter)
        {
            builder.Services.Configure<ConsoleLoggerOptions>(console => console.FormatterName = formatter);
        }

        // A console that stops draining (a stalled stdout pipe) must not block the threads that log: socket event
        // threads log too (InlineSocketCompletions), and one blocked there stalls every socket it serves. Past the
        // console logger's queue (2,500 entries) lines are dropped and counted instead.
        builder.Services.Configure<ConsoleLoggerOptions>(console => console.QueueFullMode = ConsoleLoggerQueueFullMode.DropWrite);

        // Log scopes off unless Logging:CaptureScopes=true. Kestrel opens a scope per TCP connection; it lives in the
        // connection's ExecutionContext for the socket's whole life: 152 bytes per idle socket (heap census,
        // performance.md, "Log scopes off"). The gateway's own lines carry their ids as structured fields instead.
        builder.Services.Configure<LoggerFilterOptions>(filter => filter.CaptureScopes = configuration.GetValue("Logging:CaptureScopes", false));

        builder.Services.AddSingleton<GatewayMetrics>();
        builder.Services.AddSingleton<GatewayTracing>();
        builder.AddGatewayTelemetry(gateway.Telemetry);
        builder.Services.AddSingleton<DialectRegistry>();
        builder.Services.AddSingleton(callbackTarget);
        builder.Services.AddSingleton(provider => new ConnectionLimiter(
            maxConnections,
            fileLimit,
            openAtStart,
            provider.GetRequiredService<ILogger<ConnectionLimiter>>(),
            provider.GetRequiredService<GatewayMetrics>()));
        builder.Services.AddSingleton<IAppCallbackClient>(provider =>
        {
            var options = provider.GetRequiredService<Microsoft.Extensions.Options.IOptions<GatewayOptions>>().Value;
            return new AppCallbackClient(provider.GetRequiredService<CallbackTarget>().Uri, options.Callback.MaxConcurrency, provider.GetRequiredService<GatewayMetrics>());
        });
        builder.Services.AddSingleton<GatewayRuntime>();
        builder.Services.AddSingleton<GatewayLifetime>();
        var membership = new ClusterMembership(gateway.Cluster.Enabled);
        builder.Services.AddSingleton(membership);
        builder.Services.AddAkka(AkkaSetup.SystemName, akka => akka
            .ConfigureGatewayAkka(configuration, gateway)
            .AddCallbackActor()
            .AddRegistryActor()
            .AddGatewayCluster(gateway.Cluster, membership)
            .AddGracefulShutdown()
            .AddOperatorSettings(configuration));
        builder.Services.AddHostedService(provider => provider.GetRequiredService<GatewayLifetime>());

        // After the actor system's own hosted service: the feed's graph runs on it.
        builder.Services.AddSingleton<LiveFeed>();
        builder.Services.AddHostedService(provider => provider.GetRequiredService<LiveFeed>());
        builder.Services.AddHostedService<MemoryTrimmer>();
        builder.Services.AddHostedService<AdminWarmUp>();
        return builder;
    }

    /// <summary>
    /// The ports Kestrel serves with TLS as configuration declares them at start: the <c>https://</c> ones among
    /// <c>Kestrel:Endpoints:*:Url</c> and among the URLs (<c>urls</c>, <c>ASPNETCORE_URLS</c>), both taken, since
    /// <c>preferHostingUrls</c> makes Kestrel bind the URLs despite endpoints. Port 0 stands for a TLS endpoint on a
    /// dynamic port: every dynamic-port endpoint then stays off the lean transport (slower, never wrong). Not seen: an
    /// endpoint coded with <c>UseHttps</c> (the gateway codes none) and an <c>https://</c> endpoint added by a
    /// configuration reload while running. (<c>https_ports</c> binds nothing here: Kestrel reads it only without URLs,
    /// and the gateway always has some.)
    /// </summary>
    private static HashSet<int> TlsPorts(string? urls, IConfigurationSection endpoints) =>
        [.. BindingAddresses(EndpointUrls(endpoints).Concat((urls ?? string.Empty).Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
            .Where(static address => !address.IsUnixPipe && !address.IsNamedPipe && string.Equals(address.Scheme, "https", StringComparison.OrdinalIgnoreCase))
            .Select(static address => address.Port)];

    /// <summary>Whether one of Kestrel's configured endpoints (<c>Kestrel:Endpoints:*:Url</c>) listens on <paramref name="port"/>.</summary>
    private static bool DeclaresPort(IConfigurationSection endpoints, int port) =>
        BindingAddresses(EndpointUrls(endpoints)).Any(address => address.Port == port);

    private static IEnumerable<string?> EndpointUrls(IConfigurationSection endpoints) =>
        endpoints.GetChildren().Select(static endpoint => endpoint["Url"]);

    /// <summary>The addresses among <paramref name="urls"/> that parse; Kestrel reports a malformed one itself when it binds.</summary>
    private static IEnumerable<BindingAddress> BindingAddresses(IEnumerable<string?> urls)
    {
        foreach (var url in urls)
        {
            if (url is not { Length: > 0 })
            {
                continue;
            }

            BindingAddress address;
            try
            {
                address = BindingAddress.Parse(url);
            }
            catch (FormatException)
            {
                continue;
            }

            yield return address;
        }
    }

    /// <summary>Maps <c>/healthz</c> (process up) and <c>/readyz</c> (actor system running and not shutting down; with clustering on, also this node <c>Up</c> in the cluster).</summary>
    public static WebApplication MapHealth(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/readyz", (GatewayLifetime lifetime, ClusterMembership membership) =>
            lifetime.IsReady && membership.IsUp ? Results.Text("ready\n") : Results.Text("not ready\n", statusCode: StatusCodes.Status503ServiceUnavailable));
        return app;
    }

    /// <summary>
    /// Checks the settings before anything is built from them: the ranges <see cref="GatewayOptions"/> declares, the
    /// callback URL, and that the two dialects do not share a path. Returns the callback target.
    /// </summary>
    /// <exception cref="OptionsValidationException">One or more settings are invalid; its failures name every one.</exception>
    private static CallbackTarget Validate(GatewayOptions gateway, IConfiguration configuration)
    {
        var failures = new List<string>();
        if (new GatewayOptionsValidator().Validate(Options.DefaultName, gateway) is { Failed: true, Failures: { } invalid })
        {
            failures.AddRange(invalid);
        }

        if (!string.IsNullOrWhiteSpace(gateway.Tapr.Path) && !string.IsNullOrWhiteSpace(gateway.Jac.Path)
            && DialectRegistry.PathComparer.Equals(DialectRegistry.ServedPath(gateway.Tapr.Path), DialectRegistry.ServedPath(gateway.Jac.Path)))
        {
            failures.Add($"Gateway:Tapr:Path ('{gateway.Tapr.Path}') and Gateway:Jac:Path ('{gateway.Jac.Path}') must differ.");
        }

        CallbackTarget? callbackTarget = null;
        try
        {
            callbackTarget = CallbackTarget.From(configuration);
        }
        catch (OptionsValidationException invalidUrl)
        {
            failures.AddRange(invalidUrl.Failures);
        }

        return failures.Count > 0 || callbackTarget is null
            ? throw new OptionsValidationException(Options.DefaultName, typeof(GatewayOptions), failures)
            : callbackTarget;
    }

    /// <summary>The <c>Gateway</c> section as bound, for what is set up before the host's options exist.</summary>
    /// <exception cref="OptionsValidationException">A value the binder cannot convert (not a number, not a duration); names its key.</exception>
    private static GatewayOptions Bind(IConfiguration configuration)
    {
        try
        {
            return configuration.GetSection(GatewayOptions.SectionName).Get<GatewayOptions>() ?? new GatewayOptions();
        }
        catch (InvalidOperationException unconvertible)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(GatewayOptions), [unconvertible.Message]);
        }
    }
}
