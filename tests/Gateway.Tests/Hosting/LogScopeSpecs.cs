using Gateway.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Hosting;

/// <summary>
/// Log scopes are off unless <c>Logging:CaptureScopes</c> turns them on: Kestrel opens one per TCP connection, and
/// a captured scope lives in the connection's execution context as long as the socket (152 bytes per idle socket).
/// </summary>
public sealed class LogScopeSpecs
{
    [Fact]
    public async Task A_gateway_captures_no_log_scopes_by_default()
    {
        var scopes = await ScopesSeenAsync();

        // Only the scope this spec opened: the factory may still report an ambient activity's ids.
        Assert.DoesNotContain("connection 7", scopes);
    }

    [Fact]
    public async Task Logging_CaptureScopes_true_turns_log_scopes_back_on()
    {
        var scopes = await ScopesSeenAsync("--Logging:CaptureScopes=true");

        Assert.Contains("connection 7", scopes);
    }

    /// <summary>Logs one line inside a scope through the gateway host's logger factory; returns the scopes a provider saw with it.</summary>
    private static async Task<List<string>> ScopesSeenAsync(params string[] args)
    {
        var provider = new ScopeRecordingProvider();
        var builder = WebApplication.CreateSlimBuilder(["--urls", "http://127.0.0.1:0", .. args]);
        builder.Logging.ClearProviders().AddProvider(provider);
        builder.AddGateway();
        await using var app = builder.Build();

        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("LogScopeSpecs");
        using (logger.BeginScope("connection {Id}", 7))
        {
            logger.LogWarning("inside the scope");
        }

        return provider.ScopesAtLastLine;
    }

    /// <summary>A provider that reads the factory's external scopes, as the console provider does.</summary>
    private sealed class ScopeRecordingProvider : ILoggerProvider, ISupportExternalScope
    {
        private IExternalScopeProvider? _scopes;

        public List<string> ScopesAtLastLine { get; private set; } = [];

        public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

        public ILogger CreateLogger(string categoryName) => new Logger(this);

        public void Dispose()
        {
        }

        private sealed class Logger(ScopeRecordingProvider owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => owner._scopes?.Push(state);

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (formatter(state, exception) != "inside the scope")
                {
                    return;
                }

                var seen = new List<string>();
                owner._scopes?.ForEachScope((scope, list) => list.Add(scope?.ToString() ?? string.Empty), seen);
                owner.ScopesAtLastLine = seen;
            }
        }
    }
}
