using System.Diagnostics;
using System.IO.Pipelines;
using System.Text.Json.Nodes;
using Gateway.WebSockets;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.Benchmarks.Scenarios;

/// <summary>
/// <c>socket-send</c>: CPU per message written by the gateway's WebSocket layer alone, in process, over in-memory
/// pipes drained by one reader each: <c>--sockets</c> sockets, <c>--messages</c> rounds of one message to every socket
/// (as a broadcast does), <c>--payload-bytes</c> each. No actors, no transport, no kernel: what the layer itself costs
/// per delivered message, free of the machine's load.
/// </summary>
internal static class SocketSendScenario
{
    public static async Task<int> RunAsync(BenchmarkOptions options)
    {
        var sockets = options.Int("sockets", 1000);
        var messages = options.Int("messages", 2000);
        var repeat = options.Int("repeat", 3);
        var payload = new byte[options.Int("payload-bytes", 20)];
        Array.Fill(payload, (byte)'x');
        var message = OutboundMessage.Text(payload);
        var settings = new WebSocketSettings(1024 * 1024, 4 * 1024 * 1024, 4096, TimeSpan.FromSeconds(10));
        var budget = new InboundBudget(long.MaxValue);
        var connections = new List<(Pipe Input, WebSocketConnection Socket, Task Loop, Task Drain)>();
        for (var i = 0; i < sockets; i++)
        {
            var input = new Pipe();
            var output = new Pipe();
            var socket = new WebSocketConnection(input.Reader, output.Writer, DetachedTransport.Instance, settings, NullLogger.Instance);
            connections.Add((input, socket, socket.RunAsync(IgnoringInboundHandler.Instance, new InboundFlow(1024 * 1024, budget), CancellationToken.None), DrainAsync(output.Reader)));
        }

        var results = new JsonArray();
        for (var round = 0; round <= repeat; round++)
        {
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var wall = Stopwatch.StartNew();
            for (var m = 0; m < messages; m++)
            {
                foreach (var (_, socket, _, _) in connections)
                {
                    socket.TryEnqueue(message);
                }
            }

            await WaitUntilWrittenAsync(connections.Select(c => c.Socket));
            var used = Process.GetCurrentProcess().TotalProcessorTime - cpu;
            var nsPerMessage = used.TotalMilliseconds * 1_000_000 / ((long)messages * sockets);
            if (round > 0)
            {
                results.Add(Math.Round(nsPerMessage, 1));
            }

            Orchestration.Progress.Write($"socket-send: round {round}{(round == 0 ? " (warm-up)" : string.Empty)}: {nsPerMessage:F1} ns of CPU per message, {wall.Elapsed.TotalSeconds:F2} s");
        }

        foreach (var (input, _, _, _) in connections)
        {
            input.Writer.Complete();
        }

        await Task.WhenAll(connections.Select(c => c.Loop)).WaitAsync(TimeSpan.FromSeconds(60));
        Console.WriteLine(new JsonObject { ["scenario"] = "socket-send", ["sockets"] = sockets, ["messages"] = messages, ["payloadBytes"] = payload.Length, ["cpuNsPerMessage"] = results }.ToJsonString());
        return 0;
    }

    private static async Task DrainAsync(PipeReader reader)
    {
        while (true)
        {
            var result = await reader.ReadAsync();
            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return;
            }
        }
    }

    private static async Task WaitUntilWrittenAsync(IEnumerable<WebSocketConnection> sockets)
    {
        foreach (var socket in sockets)
        {
            while (socket.QueuedBytes > 0)
            {
                await Task.Delay(1);
            }
        }
    }
}
