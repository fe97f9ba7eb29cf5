using System.Diagnostics;
using System.Text.Json;
using System.Threading.Channels;
using Gateway.Benchmarks.Client;

namespace Gateway.Benchmarks.Orchestration;

/// <summary>
/// This tool started again in another mode (<c>app</c>, <c>client</c>): JSON lines on its stdout are
/// reports, its stderr is passed on to ours, commands go to its stdin. Closing stdin ends it; dispose
/// kills it if it has not ended by itself within a few seconds.
/// </summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly string _name;
    private readonly TextWriter? _log;

    private ChildProcess(Process process, string name, TextWriter? log)
    {
        _process = process;
        _name = name;
        _log = log;
    }

    public int Pid { get; private set; }

    public string Name => _name;

    public bool HasExited => _process.HasExited;

    public static ChildProcess Start(string name, string mode, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null, TextWriter? log = null)
    {
        var (fileName, prefix) = Repo.Self();
        var start = new ProcessStartInfo(fileName)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in prefix.Append(mode).Concat(arguments))
        {
            start.ArgumentList.Add(argument);
        }

        // Idle thread-pool workers spin (sched_yield) before they sleep; on a small machine shared with the
        // gateway that is CPU taken from what is measured, so the load generator's processes do not spin.
        start.Environment["DOTNET_ThreadPool_UnfairSemaphoreSpinLimit"] = "0";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var child = new ChildProcess(process, name, log);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                child._lines.Writer.TryComplete();
            }
            else
            {
                child._lines.Writer.TryWrite(e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                Console.Error.WriteLine($"  [{name}] {e.Data}");
                child._log?.WriteLine(e.Data);
            }
        };
        if (!process.Start())
        {
            throw new InvalidOperationException($"could not start {name}");
        }

        child.Pid = process.Id;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    public async Task SendAsync(ClientCommand command) => await SendLineAsync(JsonSerializer.Serialize(command, ClientProtocol.Json)).ConfigureAwait(false);

    public async Task SendLineAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line).ConfigureAwait(false);
        await _process.StandardInput.FlushAsync().ConfigureAwait(false);
    }

    /// <summary>The next report of <paramref name="type"/> (for <paramref name="phase"/> if given), skipping others; throws on timeout or if the process ends first.</summary>
    public async Task<ClientReport> ReadAsync(string type, TimeSpan timeout, int? phase = null)
    {
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            while (true)
            {
                var line = await _lines.Reader.ReadAsync(cancel.Token).ConfigureAwait(false);
                if (!line.StartsWith('{'))
                {
                    continue;
                }

                var report = JsonSerializer.Deserialize<ClientReport>(line, ClientProtocol.Json)!;
                if (report.Type == "error")
                {
                    throw new InvalidOperationException($"{_name} failed: {report.Message}");
                }

                if (report.Type == type && (phase is null || report.Phase == phase))
                {
                    return report;
                }
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{_name} sent no '{type}' report within {timeout.TotalSeconds:F0} s");
        }
        catch (ChannelClosedException)
        {
            throw new InvalidOperationException($"{_name} ended (exit code {(_process.HasExited ? _process.ExitCode : -1)}) before its '{type}' report");
        }
    }

    /// <summary>The next stdout line, raw (the app's ready line).</summary>
    public async Task<string> ReadLineAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            return await _lines.Reader.ReadAsync(cancel.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{_name} wrote nothing within {timeout.TotalSeconds:F0} s");
        }
        catch (ChannelClosedException)
        {
            throw new InvalidOperationException($"{_name} ended before writing anything");
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.StandardInput.Close();
        }
        catch (IOException)
        {
            // Already gone.
        }

        try
        {
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Progress.Write($"{_name} (pid {Pid}) did not exit: killing it");
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().ConfigureAwait(false);
        }

        _process.Dispose();
    }
}
