using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Gateway.Hosting;

/// <summary>
/// Configuration section <c>Gateway</c> (environment: <c>Gateway__Section__Key</c>). Every setting has a working default.
/// The host refuses to start with a value outside its range (<see cref="GatewayOptionsValidator"/>, run on the bound
/// settings by <c>AddGateway</c> before anything is built): a count below 1, a buffer below 1 KiB, a timeout that must
/// pass set to 0, any duration past 24 days, an empty path.
/// </summary>
public sealed class GatewayOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Gateway";

    /// <summary>The TAPR (Olares) dialect on <c>/ws</c>.</summary>
    [ValidateObjectMembers]
    public TaprOptions Tapr { get; set; } = new();

    /// <summary>The jac-cloud dialect on <c>/websocket</c>.</summary>
    [ValidateObjectMembers]
    public JacOptions Jac { get; set; } = new();

    /// <summary>Sizes, bounds and connection caps.</summary>
    [ValidateObjectMembers]
    public LimitsOptions Limits { get; set; } = new();

    /// <summary>The HTTP callback to the app.</summary>
    [ValidateObjectMembers]
    public CallbackOptions Callback { get; set; } = new();

    /// <summary>Who may call the admin API.</summary>
    [ValidateObjectMembers]
    public AdminOptions Admin { get; set; } = new();

    /// <summary>Graceful shutdown.</summary>
    [ValidateObjectMembers]
    public ShutdownOptions Shutdown { get; set; } = new();

    /// <summary>How client sockets are served.</summary>
    [ValidateObjectMembers]
    public SocketsOptions Sockets { get; set; } = new();

    /// <summary>Memory housekeeping.</summary>
    [ValidateObjectMembers]
    public MemoryOptions Memory { get; set; } = new();

    /// <summary>Metrics, traces and the admin page's live feed.</summary>
    [ValidateObjectMembers]
    public TelemetryOptions Telemetry { get; set; } = new();

    /// <summary>Several gateways as one (Akka.Cluster); off by default.</summary>
    [ValidateObjectMembers]
    public Cluster.GatewayClusterOptions Cluster { get; set; } = new();
}

/// <summary>
/// Metrics, traces and the admin page's live feed. The OpenTelemetry exporters themselves are set by the
/// standard <c>OTEL_*</c> environment variables (<c>OTEL_EXPORTER_OTLP_ENDPOINT</c> switches OTLP on).
/// </summary>
public sealed class TelemetryOptions
{
    /// <summary>Path of the Prometheus scrape endpoint. Default <c>/metrics</c>; empty: no endpoint.</summary>
    public string PrometheusPath { get; set; } = "/metrics";

    /// <summary>
    /// Answer scrapes from any peer, without the admin token: for a Prometheus that cannot use the admin
    /// listener. Default false: the admin API's access rule applies.
    /// </summary>
    public bool PrometheusOpen { get; set; }

    /// <summary>How often the admin page's live figures are sampled and pushed to viewers; 0 means 1 s. Default 1 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "24.00:00:00")]
    public TimeSpan FeedInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The most distinct tag sets one metric keeps (OpenTelemetry's <c>CardinalityLimit</c>; more are counted under
    /// <c>otel.metric.overflow=true</c>). Every metric stream preallocates that many points, about 72 bytes each, hence
    /// the upper bound. Default <see cref="TelemetrySetup.DefaultMetricCardinalityLimit"/>.
    /// </summary>
    [Range(1, TelemetrySetup.MaxMetricCardinalityLimit)]
    public int MetricCardinalityLimit { get; set; } = TelemetrySetup.DefaultMetricCardinalityLimit;

    /// <summary>
    /// Export the per-request instruments of ASP.NET Core hosting and <c>System.Net.Http</c>
    /// (<see cref="TelemetrySetup.HttpRequestInstruments"/>). Default true. False drops them, which took 5–8 % off the
    /// CPU of an echo round trip (one callback and one admin send) over whole runs and 12–14 % in the steady state
    /// (docs/performance.md, "Twelfth session" and "Against the kernel, thirteenth session");
    /// <c>gateway.callback.*</c> and <c>gateway.admin.request.duration</c> still time those two, and the meters' other
    /// instruments stay.
    /// </summary>
    public bool HttpRequestMetrics { get; set; } = true;
}

/// <summary>Memory housekeeping.</summary>
public sealed class MemoryOptions
{
    /// <summary>Run one compacting collection once a burst of connects/disconnects has settled. Default true.</summary>
    public bool CompactAfterBursts { get; set; } = true;

    /// <summary>Connects plus disconnects since the last compaction that make a burst (or a tenth of the open connections, if more). Default 1000.</summary>
    [Range(1, int.MaxValue)]
    public int MinChurn { get; set; } = 1000;

    /// <summary>Least time between two compactions. Default 1 minute.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "24.00:00:00")]
    public TimeSpan MinInterval { get; set; } = TimeSpan.FromMinutes(1);
}

/// <summary>How client sockets are served.</summary>
public sealed class SocketsOptions
{
    /// <summary>
    /// Serve plain (<c>ws://</c>) upgrades to the dialect paths straight from the connection, below
    /// Kestrel's HTTP stack, which otherwise keeps several kilobytes per socket alive for its whole life.
    /// <c>wss://</c> and everything else always take the HTTP path. Default true.
    /// </summary>
    public bool LeanPath { get; set; } = true;

    /// <summary>
    /// With the lean path, accept client sockets with the BCL's <c>Socket</c> instead of Kestrel's socket transport,
    /// and keep a socket whose first read is a complete WebSocket upgrade for a dialect's path, valid as a whole, on
    /// the BCL's sockets (<c>System.IO.Pipelines</c>' stream pipes over a <c>NetworkStream</c> to read and a
    /// <c>SocketSendStream</c> to write), never handing it to Kestrel. Every other connection (TLS, the HTTP path, a
    /// head that arrives in pieces) goes to Kestrel over its own socket transport. About 2 KB less per idle socket
    /// (performance.md, "Sockets Kestrel never sees" and "Fifteenth session"). Such sockets are not counted by
    /// Kestrel's <c>kestrel.*</c> connection instruments; the gateway's own <c>gateway.connection.*</c> count them.
    /// Off while <c>Gateway:Telemetry:KestrelConnectionDuration</c> is on, which asks for Kestrel's view of every
    /// connection.
    /// Default true.
    /// </summary>
    public bool LeanTransport { get; set; } = true;

    /// <summary>
    /// Bytes Kestrel's transport reads ahead from one socket before it stops reading (TCP then pushes
    /// back). Part of the inbound memory bound while the app is slow: the gateway reads no more than this
    /// beyond what it has handed to the app. Messages larger than this are still accepted (up to
    /// <see cref="LimitsOptions.MaxMessageBytes"/>): they are assembled as they arrive. Default 64 KiB. On the lean
    /// transport (<see cref="LeanTransport"/>) the read loop itself reads this far ahead, only while it holds back (so
    /// that a client that leaves is seen).
    /// </summary>
    [Range(1024, int.MaxValue)]
    public int ReadBufferBytes { get; set; } = 64 * 1024;

    /// <summary>
    /// Bytes Kestrel's transport holds for one socket that the kernel has not taken yet. Beyond it the
    /// outbox stops draining, fills up, and a client that does not read is closed with 4001; so with
    /// <see cref="LimitsOptions.OutboundQueueBytes"/> it bounds the memory a non-reading client can hold.
    /// Default 16 KiB. Sockets on the lean transport (<see cref="LeanTransport"/>) hold only the frames being sent,
    /// until the kernel takes them.
    /// </summary>
    [Range(1024, int.MaxValue)]
    public int WriteBufferBytes { get; set; } = 16 * 1024;

    /// <summary>
    /// Run socket continuations inline on Kestrel's I/O threads instead of dispatching them to the thread
    /// pool (Kestrel's <c>UnsafePreferInlineScheduling</c>; safe here because no gateway code blocks).
    /// Sockets Kestrel carries only. Default false.
    /// </summary>
    public bool InlineScheduling { get; set; }
}

/// <summary>The TAPR dialect.</summary>
public sealed class TaprOptions
{
    /// <summary>The client WebSocket path (also answered with a trailing slash). Default <c>/ws</c>.</summary>
    [Required]
    public string Path { get; set; } = "/ws";

    /// <summary>The request header carrying the user name, taken verbatim. Default <c>X-Bfl-User</c>.</summary>
    [Required]
    public string UserHeader { get; set; } = "X-Bfl-User";

    /// <summary>Refuse (HTTP 401 before the upgrade) connections without the user header. Default false (Olares accepts them as user "").</summary>
    public bool RequireUser { get; set; }

    /// <summary>The cookie carrying the token. Default <c>auth_token</c>.</summary>
    public string TokenCookie { get; set; } = "auth_token";

    /// <summary>A connection with no ping for longer than this is closed with 4000. Default 45 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "24.00:00:00")]
    public TimeSpan PingTimeout { get; set; } = TimeSpan.FromSeconds(45);

    /// <summary>
    /// Whether any inbound frame and WebSocket protocol pings/pongs also count as liveness (not only
    /// JSON pings). Default true (Extension): a client that is talking is evidently there.
    /// </summary>
    public bool AnyFrameIsLiveness { get; set; } = true;

    /// <summary><c>uuid</c> (lowercase UUIDv4, Olares 1.0.6) or <c>counter</c> (decimal, 1.0.5 style). Default <c>uuid</c>.</summary>
    [RegularExpression("^(?i:uuid|counter)$", ErrorMessage = "The field {0} must be uuid or counter.")]
    public string ConnIdFormat { get; set; } = "uuid";

    /// <summary>Send <c>{"event":"connected","data":{"conn_id":"..."}}</c> right after the upgrade (Extension). Default false (Olares sends nothing).</summary>
    public bool SendHello { get; set; }

    /// <summary>
    /// Browser origins allowed to open <c>/ws</c> sockets, exact (e.g. <c>https://app.example</c>; env
    /// <c>Gateway__Tapr__AllowedOrigins__0</c>). Empty (default): every origin, as Olares. Otherwise an upgrade
    /// whose <c>Origin</c> is not listed gets HTTP 403 before the upgrade; one without <c>Origin</c> (not a browser)
    /// is allowed. Guards the <c>auth_token</c> cookie against cross-site WebSocket hijacking (RFC 6455 §10.2).
    /// </summary>
    public string[] AllowedOrigins { get; set; } = [];

    /// <summary>
    /// Send a WebSocket protocol ping (RFC 6455 §5.5.2) after this long without one outstanding, and close with
    /// 4000 <c>ping timeout</c> when no ping or pong comes back within <see cref="KeepAliveTimeout"/>.
    /// Default 0: off (TAPR's JSON ping deadline, <see cref="PingTimeout"/>, already covers liveness).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "24.00:00:00")]
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.Zero;

    /// <summary>How long a protocol ping sent for <see cref="KeepAliveInterval"/> may wait for the client's pong. Default 20 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "24.00:00:00")]
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(20);
}

/// <summary>The jac-cloud dialect.</summary>
public sealed class JacOptions
{
    /// <summary>The client WebSocket path. Default <c>/websocket</c>.</summary>
    [Required]
    public string Path { get; set; } = "/websocket";

    /// <summary>The HS256 secret tokens are signed with. Unset: every token is invalid and every connection is public (logged once).</summary>
    public string? TokenSecret { get; set; }

    /// <summary>The claim holding the user's root id. Default <c>root_id</c>; a bare 24-hex id is rendered as <c>n::&lt;id&gt;</c>.</summary>
    public string RootIdClaim { get; set; } = "root_id";

    /// <summary>Clock skew allowed when checking expiry. Default 30 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "24.00:00:00")]
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a walker event with <c>response: true</c> may wait for the app's answer, counted from its
    /// arrival (time behind the connection's earlier callbacks included; one attempt), before the client
    /// gets <c>{"type":"walker","error":…}</c>. Default 30 s.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "24.00:00:00")]
    public TimeSpan WalkerTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Largest inbound message on <c>/websocket</c> (all fragments together, bytes); a larger one closes the socket
    /// with 1009 (PROTOCOL.md §5). Default 16 MiB, jac-cloud's (uvicorn's <c>ws_max_size</c>).
    /// </summary>
    [Range(1, int.MaxValue)]
    public int MaxMessageBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>
    /// Browser origins allowed to open <c>/websocket</c> sockets, exact (env <c>Gateway__Jac__AllowedOrigins__0</c>).
    /// Empty (default): every origin. Otherwise a listed <c>Origin</c> or none at all, else HTTP 403 before the upgrade.
    /// </summary>
    public string[] AllowedOrigins { get; set; } = [];

    /// <summary>
    /// Send a WebSocket protocol ping this long after the previous one was answered (jac-cloud's uvicorn: 20 s),
    /// PROTOCOL.md §5 liveness. 0 turns keep-alive off. Default 20 s.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "24.00:00:00")]
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// How long a keep-alive ping may wait for a pong (any pong or ping from the client counts) before the socket is
    /// closed with 4000 <c>ping timeout</c> and the app gets its <c>close</c>. Default 20 s (uvicorn's).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "24.00:00:00")]
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(20);
}

/// <summary>Bounds that keep one client, or the app, from hurting the others.</summary>
public sealed class LimitsOptions
{
    /// <summary>
    /// Largest inbound message on the TAPR path (all fragments together, bytes); a larger one closes the socket with
    /// 1009 (PROTOCOL.md §3). Default 1 MiB. <c>/websocket</c> has its own, <see cref="JacOptions.MaxMessageBytes"/>.
    /// </summary>
    [Range(1, int.MaxValue)]
    public int MaxMessageBytes { get; set; } = 1024 * 1024;

    /// <summary>Payload bytes queued for one client but not yet written; beyond this the client is closed with 4001. Default 4 MiB.</summary>
    [Range(typeof(long), "1", "9223372036854775807")]
    public long OutboundQueueBytes { get; set; } = 4L * 1024 * 1024;

    /// <summary>Messages queued for one client but not yet written; beyond this the client is closed with 4001. Default 4096.</summary>
    [Range(1, int.MaxValue)]
    public int OutboundQueueMessages { get; set; } = 4096;

    /// <summary>
    /// Most admin sends the registry holds and corks together while more messages wait in its mailbox: each socket
    /// then gets a burst's frames in one write (fewer <c>sendto</c> calls, a third to a half less CPU per delivered
    /// message under heavy fan-out) at the price of the first frames waiting for the sends behind them. A send that
    /// finds nothing waiting is written at once. A cork is also released before it holds more than 64 KiB of payload
    /// (or half of <see cref="OutboundQueueBytes"/>, if less), and CorkSends is capped at
    /// <see cref="OutboundQueueMessages"/>, so that corking alone does not close a healthy client with 4001. Default
    /// 16; 1 or less turns holding and corking off.
    /// </summary>
    public int CorkSends { get; set; } = 16;

    /// <summary>
    /// Most concurrent WebSocket connections. Default 0: derived from the process's open-file limit
    /// (the limit minus a reserve for listeners, the app callback pool and the runtime).
    /// </summary>
    [Range(0, int.MaxValue - ConnectionLimiter.AdminHeadroom)]
    public int MaxConnections { get; set; }

    /// <summary>Inbound bytes of one connection waiting for the app; past this the gateway stops reading that socket. Default 256 KiB.</summary>
    [Range(1, int.MaxValue)]
    public int InboundPendingBytesPerConnection { get; set; } = 256 * 1024;

    /// <summary>Inbound bytes of all connections waiting for the app; past this every socket pauses. Default 64 MiB.</summary>
    [Range(typeof(long), "1", "9223372036854775807")]
    public long InboundPendingBytesTotal { get; set; } = 64L * 1024 * 1024;

    /// <summary>How long a close handshake may take before the TCP connection is dropped. Default 5 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "24.00:00:00")]
    public TimeSpan CloseHandshakeTimeout { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>The HTTP callback to the app.</summary>
public sealed class CallbackOptions
{
    /// <summary>Full callback URL; overrides <c>http://127.0.0.1:${WS_PORT}${WS_URL}</c>. Unset and no WS_PORT/WS_URL: no callbacks.</summary>
    public string? Url { get; set; }

    /// <summary>Timeout of one attempt. Default 2 s (as Olares).</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "24.00:00:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>First retry delay; doubles per attempt. Default 100 ms.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "24.00:00:00")]
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Longest retry delay. Default 5 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "24.00:00:00")]
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Most callbacks in flight at once (different connections). Default 128.</summary>
    [Range(1, int.MaxValue)]
    public int MaxConcurrency { get; set; } = 128;
}

/// <summary>Who may call the admin API (<c>/tapr/ws/conn/*</c>, <c>/metrics</c>).</summary>
public sealed class AdminOptions
{
    /// <summary>Answer peers that are not on a loopback address. Default false.</summary>
    public bool AllowRemote { get; set; }

    /// <summary>When set, every admin call must carry <c>Authorization: Bearer &lt;token&gt;</c>.</summary>
    public string? Token { get; set; }

    /// <summary>When set (e.g. 40011), the admin API is served only on this port, not on the client listener.</summary>
    [Range(1, 65535)]
    public int? Port { get; set; }

    /// <summary>Serve the admin page at <c>/admin/</c> (same access rule as the admin API). Default true.</summary>
    public bool Page { get; set; } = true;

    /// <summary>
    /// How many admin sends the gateway makes to its own listener (over loopback) once it listens, to have the admin
    /// path compiled before the app's first broadcasts (<see cref="Gateway.Admin.AdminWarmUp"/>): to no connection,
    /// and counted in none of the admin, send or request-duration metrics. Default 100 (about half a second, and 0.5–1.1 s of
    /// CPU, mostly compiling, right after start); the runtime promotes a method after 30 counted calls and the first 20
    /// sends are not counted, so below about 50 it does little; 0 turns it off.
    /// </summary>
    [Range(0, 10_000)]
    public int WarmUpRequests { get; set; } = 100;

    /// <summary>Restore Olares's "an empty close filter closes every connection". Default false: an empty filter is refused unless the body says <c>"all":true</c>.</summary>
    public bool CloseAllOnEmptyFilter { get; set; }
}

/// <summary>Graceful shutdown (SIGTERM).</summary>
public sealed class ShutdownOptions
{
    /// <summary>How long to spend closing sockets (1001) and delivering their close callbacks before exiting. Default 20 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "24.00:00:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(20);
}

/// <summary>
/// Checks <see cref="GatewayOptions"/> against the ranges its properties declare, nested sections included (generated
/// by the options source generator). <c>AddGateway</c> runs it on the bound settings first, with the checks no attribute
/// can make (<see cref="GatewayServiceCollectionExtensions"/>), so that a bad value stops the process before Kestrel or
/// the actor system is built, with one <see cref="OptionsValidationException"/> that names every offending setting;
/// <c>ValidateOnStart</c> keeps it for the options the host resolves.
/// </summary>
[OptionsValidator]
internal sealed partial class GatewayOptionsValidator : IValidateOptions<GatewayOptions>;
