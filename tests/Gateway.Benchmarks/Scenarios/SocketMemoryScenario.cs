using System.IO.Pipelines;
using System.Text.Json.Nodes;
using Gateway.WebSockets;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.Benchmarks.Scenarios;

/// <summary>
/// <c>socket-memory</c>: managed bytes per idle socket of the gateway's WebSocket layer (<see cref="WebSocketConnection"/>),
/// in process, over in-memory pipes: N sockets whose read loops wait for data, minus the same N pipe pairs without a
/// socket. No actors, no transport: the layer's own cost, free of the machine's load. Built against another tree (for
/// example with <c>variants/bcl-websocket-complete.patch</c> applied), it measures that layer the same way.
/// </summary>
internal static class SocketMemoryScenario
{
    public static Task<int> RunAsync(BenchmarkOptions options)
    {
        var sockets = options.Int("sockets", 20_000);
        var repeat = options.Int("repeat", 3);
        var settings = new WebSocketSettings(1024 * 1024, 4 * 1024 * 1024, 4096, TimeSpan.FromSeconds(10));
        var budget = new InboundBudget(long.MaxValue);
        var perSocket = new JsonArray();
        foreach (var round in Enumerable.Range(1, repeat))
        {
            var baseline = Measure(sockets, withSocket: false, settings, budget);
            var withSocket = Measure(sockets, withSocket: true, settings, budget);
            var bytes = Math.Round((withSocket - baseline) / (double)sockets, 1);
            perSocket.Add(bytes);
            Orchestration.Progress.Write($"socket-memory: round {round}: {bytes:F1} B per idle socket");
        }

        Console.WriteLine(new JsonObject { ["scenario"] = "socket-memory", ["sockets"] = sockets, ["bytesPerIdleSocket"] = perSocket }.ToJsonString());
        return Task.FromResult(0);
    }

    /// <summary>Managed bytes held by <paramref name="count"/> pipe pairs, each with an idle socket's read loop or without.</summary>
    private static long Measure(int count, bool withSocket, WebSocketSettings settings, InboundBudget budget)
    {
        var before = Collect();
        var held = new List<(Pipe Input, Pipe Output, InboundFlow Flow, Task? Loop)>(count);
        for (var i = 0; i < count; i++)
        {
            var input = new Pipe();
            var output = new Pipe();
            var flow = new InboundFlow(1024 * 1024, budget);
            Task? loop = null;
            if (withSocket)
            {
                var socket = new WebSocketConnection(input.Reader, output.Writer, DetachedTransport.Instance, settings, NullLogger.Instance);
                loop = socket.RunAsync(IgnoringInboundHandler.Instance, flow, CancellationToken.None);
            }

            held.Add((input, output, flow, loop));
        }

        var after = Collect();
        foreach (var (input, _, _, _) in held)
        {
            input.Writer.Complete();
        }

        Task.WaitAll([.. held.Where(h => h.Loop is not null).Select(h => h.Loop!)], TimeSpan.FromSeconds(60));
        GC.KeepAlive(held);
        return after - before;
    }

    private static long Collect()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}
