using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>
/// The real gateway in a separate process: <c>dotnet src/Gateway/bin/&lt;Configuration&gt;/net10.0/Gateway.dll</c>,
/// with its own Kestrel, signals and limits. Started on a free port; its stdout and stderr are kept
/// line by line in <see cref="Output"/>; killed on dispose if still running.
/// </summary>
public sealed partial class GatewayProcess : IAsyncDisposable
{
    private static readonly string[] InheritedSettingsToDrop =
    [
        "ASPNETCORE_URLS", "ASPNETCORE_HTTP_PORTS", "ASPNETCORE_HTTPS_PORTS", "DOTNET_URLS", "ASPNETCORE_ENVIRONMENT", "DOTNET_ENVIRONMENT", "WS_PORT", "WS_URL",
    ];

    private readonly Process _process;
    private readonly List<Uri> _listening = [];
    private volatile Uri? _baseUri;
    private int? _exitCodeAfterDispose;
    private bool _disposed;
    private bool _killed;
    private HttpClient? _http;

    private GatewayProcess(Process process, GatewayProcessOptions options)
    {
        _process = process;
        Options = options;
        Admin = new AdminClient(this);
    }

    /// <summary>The options it was started with.</summary>
    public GatewayProcessOptions Options { get; }

    /// <summary>stdout and stderr, one entry per line, in arrival order.</summary>
    public OutputLog Output { get; } = new();

    /// <summary>stderr only.</summary>
    public OutputLog StandardError { get; } = new();

    /// <summary>The OS process id (the gateway itself, also when started through <c>/bin/sh</c>, which <c>exec</c>s it).</summary>
    public int ProcessId { get; private set; }

    /// <summary>Whether the process has ended.</summary>
    public bool HasExited => _disposed || _process.HasExited;

    /// <summary>The exit code, once it has ended (after dispose: the code it ended with, the kill's included).</summary>
    public int? ExitCode => _disposed ? _exitCodeAfterDispose : _process.HasExited ? _process.ExitCode : null;

    /// <summary>Every URL the gateway said it listens on ("Now listening on: ..."), in order.</summary>
    public IReadOnlyList<Uri> ListeningUrls
    {
        get
        {
            lock (_listening)
            {
                return [.. _listening];
            }
        }
    }

    /// <summary>The first listening URL, with a wildcard host replaced by 127.0.0.1: e.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri BaseUri => _baseUri ?? throw new InvalidOperationException("The gateway has not reported a listening address yet.");

    /// <summary>The port of <see cref="BaseUri"/>.</summary>
    public int Port => BaseUri.Port;

    /// <summary>An HTTP client for <see cref="BaseUri"/> (accepts any server certificate, for test HTTPS).</summary>
    public HttpClient Http
    {
        get
        {
            if (_http is null)
            {
                var client = CreateHttpClient(BaseUri);
                if (Interlocked.CompareExchange(ref _http, client, null) is not null)
                {
                    client.Dispose();
                }
            }

            return _http;
        }
    }

    /// <summary>The admin API (<c>/tapr/ws/conn/*</c>, <c>/metrics</c>).</summary>
    public AdminClient Admin { get; }

    /// <summary>The client WebSocket URI of <paramref name="path"/> (ws:// or wss:// as the listener is).</summary>
    public Uri WebSocketUri(string path = "/ws")
    {
        var builder = new UriBuilder(BaseUri) { Scheme = BaseUri.Scheme == Uri.UriSchemeHttps ? "wss" : "ws", Path = path };
        return builder.Uri;
    }

    /// <summary>Starts the gateway and, unless told otherwise, waits until <c>GET /healthz</c> answers 200.</summary>
    public static async Task<GatewayProcess> StartAsync(GatewayProcessOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new GatewayProcessOptions();
        var dll = RepoPaths.GatewayDll;
        if (!File.Exists(dll))
        {
            throw new FileNotFoundException($"The gateway is not built at {dll} (the test project's reference to src/Gateway builds it).", dll);
        }

        var start = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,

            // The content root: appsettings.json is found as in a deployment.
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        if (options.FileDescriptorLimit is { } limit)
        {
            // exec: the shell becomes the gateway, so the pid (and SIGTERM) is the gateway's.
            start.FileName = "/bin/sh";
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add(string.Create(CultureInfo.InvariantCulture, $"ulimit -n {limit} && exec \"$0\" \"$@\""));
            start.ArgumentList.Add(RepoPaths.DotnetHost);
        }
        else
        {
            start.FileName = RepoPaths.DotnetHost;
        }

        start.ArgumentList.Add(dll);

        foreach (var key in start.Environment.Keys.ToList())
        {
            if (InheritedSettingsToDrop.Contains(key, StringComparer.OrdinalIgnoreCase)
                || key.StartsWith("Gateway__", StringComparison.OrdinalIgnoreCase) || key.StartsWith("Gateway:", StringComparison.OrdinalIgnoreCase)
                || key.StartsWith("Logging__", StringComparison.OrdinalIgnoreCase) || key.StartsWith("Kestrel__", StringComparison.OrdinalIgnoreCase))
            {
                start.Environment.Remove(key);
            }
        }

        start.Environment["ASPNETCORE_URLS"] = string.Create(CultureInfo.InvariantCulture, $"http://{options.BindAddress}:{options.Port}");
        start.Environment["DOTNET_NOLOGO"] = "1";

        // One line per log entry, with a timestamp: easy to assert on and to read in a failure dump.
        start.Environment["Logging__Console__FormatterName"] = "simple";
        start.Environment["Logging__Console__FormatterOptions__SingleLine"] = "true";
        start.Environment["Logging__Console__FormatterOptions__TimestampFormat"] = "HH:mm:ss.fff ";
        if (options.CallbackUrl is not null)
        {
            start.Environment["Gateway__Callback__Url"] = options.CallbackUrl.ToString();
        }

        // The start-up warm-up's loopback connection would show in Kestrel's connection counts while a test reads them,
        // and its hundred requests cost every start a CPU second: off unless a test sets it (Admin/AdminWarmUpSpecs).
        start.Environment["Gateway__Admin__WarmUpRequests"] = "0";

        // A 10 s callback attempt timeout instead of the default 2 s: a loaded CI box can stall a test app's answer
        // past 2 s, and a retried callback would break specs that expect each event exactly once. Specs about the
        // timeout set their own (Faults, Jac, Shutdown, Soak).
        start.Environment["Gateway__Callback__Timeout"] = "00:00:10";

        foreach (var (key, value) in options.Environment)
        {
            if (value is null)
            {
                start.Environment.Remove(key);
            }
            else
            {
                start.Environment[key] = value;
            }
        }

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var gateway = new GatewayProcess(process, options);
        process.OutputDataReceived += (_, e) => gateway.OnLine(e.Data, isError: false);
        process.ErrorDataReceived += (_, e) => gateway.OnLine(e.Data, isError: true);
        if (!process.Start())
        {
            throw new InvalidOperationException("The gateway process did not start.");
        }

        gateway.ProcessId = process.Id;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        if (options.Port != 0)
        {
            gateway._baseUri = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{options.Port}/"));
        }

        if (options.WaitUntilHealthy)
        {
            try
            {
                await gateway.WaitUntilHealthyAsync(options.StartTimeout ?? TestTimeouts.Long, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await gateway.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }

        return gateway;
    }

    /// <summary>Waits until the gateway reports its address and <c>GET /healthz</c> answers 200; fails at once if the process ends.</summary>
    public async Task WaitUntilHealthyAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"The gateway exited with {_process.ExitCode} during start-up:\n{string.Join('\n', Output.Lines)}");
            }

            if (_baseUri is not null)
            {
                try
                {
                    using var probe = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                    using var response = await Http.GetAsync("/healthz", probe.Token).ConfigureAwait(false);
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        return;
                    }
                }
                catch (Exception exception) when (exception is HttpRequestException or OperationCanceledException)
                {
                    // Not listening yet.
                }
            }

            if (deadline.Elapsed > timeout)
            {
                throw new TimeoutException($"The gateway did not become healthy within {timeout}:\n{string.Join('\n', Output.Lines)}");
            }

            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The process's resident set size in bytes, read from <c>/proc/&lt;pid&gt;/status</c> (<c>VmRSS</c>), independent of the gateway's own metrics.</summary>
    public long ResidentBytes()
    {
        foreach (var line in File.ReadLines($"/proc/{ProcessId}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                var kib = line["VmRSS:".Length..].Trim().Split(' ')[0];
                return long.Parse(kib, CultureInfo.InvariantCulture) * 1024;
            }
        }

        throw new InvalidOperationException($"No VmRSS for pid {ProcessId}");
    }

    /// <summary>Sends SIGTERM (<c>kill -TERM &lt;pid&gt;</c>), the signal a container runtime sends to stop it.</summary>
    public async Task SignalTerminateAsync()
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", ProcessId.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false })
            ?? throw new InvalidOperationException("Could not run kill.");
        await kill.WaitForExitAsync().ConfigureAwait(false);
        if (kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill -TERM {ProcessId} exited with {kill.ExitCode}");
        }
    }

    /// <summary>Waits for the process to end (and its output to be read); returns the exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cancel.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"The gateway (pid {ProcessId}) did not exit within {timeout}");
        }

        return _process.ExitCode;
    }

    /// <summary>Kills the process (SIGKILL) if it is still running.</summary>
    public void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _killed = true;
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    /// <summary>Writes the output lines from <paramref name="fromLine"/> on to a test's output.</summary>
    public void DumpOutput(ITestOutputHelper output, int fromLine = 0, string? title = null)
    {
        var lines = Output.Since(fromLine);
        var state = !HasExited ? "running" : _killed ? "killed by the harness" : $"exited by itself with {ExitCode}";
        output.WriteLine($"----- {title ?? "gateway"} (pid {ProcessId}, {state}) output, {lines.Count} lines from line {fromLine} -----");
        foreach (var line in lines)
        {
            output.WriteLine(line);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        Kill();
        try
        {
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Reported by the caller's failure, if any; nothing more to do here.
        }

        _http?.Dispose();
        if (!_disposed)
        {
            _exitCodeAfterDispose = _process.HasExited ? _process.ExitCode : null;
            _disposed = true;
            _process.Dispose();
        }
    }

    /// <summary>A free TCP port on 127.0.0.1 at this moment (nothing listens on it when this returns).</summary>
    public static int GetFreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    internal static HttpClient CreateHttpClient(Uri baseUri) =>
        new(new SocketsHttpHandler
        {
            UseProxy = false,
            UseCookies = false,
            AllowAutoRedirect = false,
            SslOptions = { RemoteCertificateValidationCallback = static (_, _, _, _) => true },
        })
        {
            BaseAddress = baseUri,
            Timeout = TestTimeouts.Default,
        };

    private void OnLine(string? line, bool isError)
    {
        if (line is null)
        {
            return;
        }

        if (isError)
        {
            StandardError.Add(line);
        }

        var match = ListeningLine().Match(line);
        if (match.Success && Uri.TryCreate(match.Groups[1].Value, UriKind.Absolute, out var url))
        {
            lock (_listening)
            {
                _listening.Add(url);
                if (_baseUri is null)
                {
                    var host = url.Host is "0.0.0.0" or "[::]" or "::" or "localhost" or "+" or "*" ? "127.0.0.1" : url.Host;
                    _baseUri = new UriBuilder(url.Scheme, host, url.Port).Uri;
                }
            }
        }

        Output.Add(line);
    }

    [GeneratedRegex(@"Now listening on: ([^\s""]+)")]
    private static partial Regex ListeningLine();
}
