using System.Runtime.CompilerServices;

namespace Gateway.Tests;

/// <summary>
/// TestKit's <c>Watch</c>/<c>Unwatch</c> block their thread until the test actor acknowledges, and
/// xunit runs test classes in parallel: on a small machine (2 cores, so 2 pool threads to start with)
/// that starves the pool, and the test actor waits up to a second for the pool to grow a thread.
/// Starting with more threads keeps the specs' timing about the actors, not about the pool.
/// </summary>
internal static class ThreadPoolWarmup
{
    [ModuleInitializer]
    internal static void Initialize()
    {
        var threads = Math.Max(16, Environment.ProcessorCount * 4);
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, threads), Math.Max(io, threads));
    }
}
