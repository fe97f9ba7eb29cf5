using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Gateway.Actor.TestKit;

/// <summary>Writes log entries to xunit's per-test output, so a failing test shows what the actors said.</summary>
public sealed class TestOutputLoggerFactory(ITestOutputHelper output, LogLevel minimumLevel = LogLevel.Debug) : ILoggerFactory
{
    /// <inheritdoc/>
    public ILogger CreateLogger(string categoryName) => new OutputLogger(output, categoryName, minimumLevel);

    /// <inheritdoc/>
    public void AddProvider(ILoggerProvider provider)
    {
    }

    /// <inheritdoc/>
    public void Dispose()
    {
    }

    private sealed class OutputLogger(ITestOutputHelper output, string category, LogLevel minimumLevel) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= minimumLevel;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            try
            {
                output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} [{logLevel}] {category}: {formatter(state, exception)}{(exception is null ? string.Empty : Environment.NewLine + exception)}");
            }
            catch (InvalidOperationException)
            {
                // The test has finished: xunit no longer accepts output for it.
            }
        }
    }
}
