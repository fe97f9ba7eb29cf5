namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>How to start a <see cref="GatewayProcess"/>. Everything has a default that gives a loopback gateway on a free port.</summary>
public sealed class GatewayProcessOptions
{
    /// <summary>
    /// Extra environment variables, e.g. <c>["Gateway__Tapr__PingTimeout"] = "00:00:02"</c>. Applied last, so
    /// they override the harness's own (<c>ASPNETCORE_URLS</c> included, and its two changes to the gateway's
    /// defaults: <c>Gateway__Admin__WarmUpRequests=0</c> and <c>Gateway__Callback__Timeout=00:00:10</c>); a null
    /// value removes a variable.
    /// </summary>
    public Dictionary<string, string?> Environment { get; } = new(StringComparer.Ordinal);

    /// <summary>The app the gateway calls back (<c>Gateway__Callback__Url</c>); null for none.</summary>
    public Uri? CallbackUrl { get; set; }

    /// <summary>The address to listen on. Default <c>127.0.0.1</c>; <c>0.0.0.0</c> to be reachable on every interface.</summary>
    public string BindAddress { get; set; } = "127.0.0.1";

    /// <summary>The port to listen on. Default 0: a free port chosen by the OS, read back from the gateway's log.</summary>
    public int Port { get; set; }

    /// <summary>When set, the gateway is started through <c>/bin/sh -c "ulimit -n N &amp;&amp; exec dotnet ..."</c>.</summary>
    public int? FileDescriptorLimit { get; set; }

    /// <summary>How long to wait for <c>GET /healthz</c> to answer 200. Default <see cref="TestTimeouts.Long"/>.</summary>
    public TimeSpan? StartTimeout { get; set; }

    /// <summary>Whether to wait for <c>/healthz</c> at all (false for a gateway expected to fail at start-up). Default true.</summary>
    public bool WaitUntilHealthy { get; set; } = true;

    /// <summary>Convenience: sets <c>Gateway__Section__Key</c>.</summary>
    public GatewayProcessOptions With(string section, string key, string? value)
    {
        Environment[$"Gateway__{section}__{key}"] = value;
        return this;
    }
}
