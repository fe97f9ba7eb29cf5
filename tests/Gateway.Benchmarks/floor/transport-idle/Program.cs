// What one idle TCP connection costs a .NET server under two transports, with nothing of the gateway on top:
//
//   kestrel          Kestrel's socket transport (the gateway's today): a connection middleware gets the connection's
//                    two pipes.
//   sockets          The BCL alone: Socket.AcceptAsync, a NetworkStream, and PipeReader.Create/PipeWriter.Create over
//                    it, the reader issuing zero-byte reads so that an idle socket holds no buffer (as Kestrel's
//                    transport does).
//   kestrel-sockets  Kestrel's connection layer over the BCL's: the same middleware, with a transport of our own
//                    (an IConnectionListenerFactory) whose connections are the 'sockets' side's stream pipes.
//
// Each server reads one request head, answers with a 101 head, then waits on its next read until the peer goes away,
// as an idle WebSocket does. Printed once every connection is open: managed heap and RSS per connection after a full
// compacting collection, and the server's CPU per connection through the connects.
//
//   dotnet run -c Release -- server <kestrel|sockets|kestrel-sockets> <port> <connections>
//   dotnet run -c Release -- client <port> <connections>        (in another process; 128 connects in flight)
//
// run.sh runs both, alternately.
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

if (args[0] == "client")
{
    await OpenClientsAsync(int.Parse(args[1]), int.Parse(args[2]));
    return;
}

var transport = args[1];
var port = int.Parse(args[2]);
var target = long.Parse(args[3]);
long opened = 0;

async Task ServeAsync(PipeReader input, PipeWriter output)
{
    var head = await input.ReadAsync();
    input.AdvanceTo(head.Buffer.End);
    await output.WriteAsync("HTTP/1.1 101 Switching Protocols\r\n\r\n"u8.ToArray());
    Interlocked.Increment(ref opened);
    while (true)
    {
        var result = await input.ReadAsync();
        if (result.IsCompleted)
        {
            return;
        }

        input.AdvanceTo(result.Buffer.End);
    }
}

if (transport is "kestrel" or "kestrel-sockets")
{
    var builder = WebApplication.CreateSlimBuilder();
    builder.Logging.ClearProviders();
    if (transport == "kestrel-sockets")
    {
        // Registered after Kestrel's socket transport, so Kestrel binds with this one.
        builder.Services.AddSingleton<IConnectionListenerFactory, StreamListenerFactory>();
    }

    builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port, listen => listen.Run(connection => ServeAsync(connection.Transport.Input, connection.Transport.Output))));
    _ = builder.Build().RunAsync();
}
else
{
    var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
    listener.Listen(512);
    _ = Task.Run(async () =>
    {
        while (true)
        {
            var socket = await listener.AcceptAsync();
            socket.NoDelay = true;
            var stream = new NetworkStream(socket, ownsSocket: true);
            _ = ServeAsync(PipeReader.Create(stream, StreamConnection.ReaderOptions), PipeWriter.Create(stream));
        }
    });
}

var baseHeap = GC.GetTotalMemory(forceFullCollection: true);
var baseRss = Environment.WorkingSet;
Console.WriteLine("ready");
while (Interlocked.Read(ref opened) == 0)
{
    await Task.Delay(1);
}

var cpuAtFirst = Process.GetCurrentProcess().TotalProcessorTime;
while (Interlocked.Read(ref opened) < target)
{
    await Task.Delay(10);
}

var cpuPerConnect = (Process.GetCurrentProcess().TotalProcessorTime - cpuAtFirst).TotalMicroseconds / target;
GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
var heap = GC.GetTotalMemory(forceFullCollection: true);
var rss = Environment.WorkingSet;
Console.WriteLine($"{transport}: {target} open, heap {(heap - baseHeap) / (double)target:F0} B, RSS {(rss - baseRss) / (double)target:F0} B per connection, connect CPU {cpuPerConnect:F0} µs per connection");

static async Task OpenClientsAsync(int port, int count)
{
    var open = new List<Socket>(count);
    using var inFlight = new SemaphoreSlim(128);
    var connects = new List<Task>(count);
    for (var i = 0; i < count; i++)
    {
        await inFlight.WaitAsync();
        connects.Add(Task.Run(async () =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(IPAddress.Loopback, port);
            await socket.SendAsync("GET /ws HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
            await socket.ReceiveAsync(new byte[64]);
            lock (open)
            {
                open.Add(socket);
            }

            inFlight.Release();
        }));
    }

    await Task.WhenAll(connects);
    Console.WriteLine($"client: {open.Count} open");
    await Task.Delay(Timeout.Infinite);
}

/// <summary>The 'kestrel-sockets' transport: accepts with the BCL and hands Kestrel stream-pipe connections.</summary>
internal sealed class StreamListenerFactory : IConnectionListenerFactory
{
    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(endpoint);
        socket.Listen(512);
        return new(new Listener(socket));
    }

    private sealed class Listener(Socket socket) : IConnectionListener
    {
        public EndPoint EndPoint => socket.LocalEndPoint!;

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            try
            {
                var accepted = await socket.AcceptAsync(cancellationToken);
                accepted.NoDelay = true;
                return new StreamConnection(accepted);
            }
            catch (Exception exception) when (exception is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                return null;
            }
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default) => DisposeAsync();

        public ValueTask DisposeAsync()
        {
            socket.Dispose();
            return default;
        }
    }
}

/// <summary>A Kestrel connection over a NetworkStream's pipes, with the features Kestrel's HTTP stack reads.</summary>
internal sealed class StreamConnection : ConnectionContext, IDuplexPipe, IConnectionIdFeature, IConnectionTransportFeature, IConnectionItemsFeature, IConnectionLifetimeFeature, IConnectionEndPointFeature
{
    public static readonly StreamPipeReaderOptions ReaderOptions = new(bufferSize: 4096, minimumReadSize: 1024, useZeroByteReads: true);
    private static long s_lastId;
    private readonly Socket _socket;
    private readonly CancellationTokenSource _closed = new();
    private string? _id;
    private IDictionary<object, object?>? _items;
    private FeatureCollection? _features;

    public StreamConnection(Socket socket)
    {
        _socket = socket;
        var stream = new NetworkStream(socket, ownsSocket: true);
        Input = PipeReader.Create(stream, ReaderOptions);
        Output = PipeWriter.Create(stream);
        Transport = this;
        ConnectionClosed = _closed.Token;
    }

    public PipeReader Input { get; }

    public PipeWriter Output { get; }

    public override IDuplexPipe Transport { get; set; }

    public override string ConnectionId { get => _id ??= Interlocked.Increment(ref s_lastId).ToString("x"); set => _id = value; }

    public override IFeatureCollection Features => _features ??= NewFeatures();

    public override IDictionary<object, object?> Items { get => _items ??= new ConnectionItems(); set => _items = value; }

    public override CancellationToken ConnectionClosed { get; set; }

    public override EndPoint? LocalEndPoint { get => _socket.LocalEndPoint; set { } }

    public override EndPoint? RemoteEndPoint { get => _socket.RemoteEndPoint; set { } }

    public override void Abort(ConnectionAbortedException abortReason)
    {
        _socket.Dispose();
        ThreadPool.UnsafeQueueUserWorkItem(static closed => closed.Cancel(), _closed, preferLocal: false);
    }

    public override ValueTask DisposeAsync()
    {
        Input.Complete();
        Output.Complete();
        _socket.Dispose();
        _closed.Cancel();
        return default;
    }

    private FeatureCollection NewFeatures()
    {
        var features = new FeatureCollection(8);
        features.Set<IConnectionIdFeature>(this);
        features.Set<IConnectionTransportFeature>(this);
        features.Set<IConnectionItemsFeature>(this);
        features.Set<IConnectionLifetimeFeature>(this);
        features.Set<IConnectionEndPointFeature>(this);
        return features;
    }
}
