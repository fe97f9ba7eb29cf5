using System.Net;
using System.Net.Sockets;
using Gateway.Dialects;

namespace Gateway.Tests.Dialects;

/// <summary>The lean transport's send stream on a real loopback TCP connection.</summary>
public sealed class SocketSendStreamSpecs : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private Socket? _server;
    private Socket? _client;

    public async Task InitializeAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        _client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        var accepting = listener.AcceptAsync();
        await _client.ConnectAsync(listener.LocalEndPoint!);
        _server = await accepting;
        _server.SendBufferSize = 4096;
    }

    public Task DisposeAsync()
    {
        _server?.Dispose();
        _client?.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task A_write_the_send_buffer_takes_completes_at_once()
    {
        var stream = new SocketSendStream(_server!);

        var write = stream.WriteAsync("hello"u8.ToArray());

        Assert.True(write.IsCompletedSuccessfully);
        Assert.Equal("hello"u8.ToArray(), await ReceiveAsync(5));
    }

    [Fact]
    public async Task A_write_larger_than_the_send_buffer_waits_for_the_reader_and_arrives_whole_and_in_order()
    {
        var stream = new SocketSendStream(_server!);
        var payload = new byte[1024 * 1024];
        new Random(1234).NextBytes(payload);

        var write = stream.WriteAsync(payload);
        var wasPending = !write.IsCompleted;
        var received = await ReceiveAsync(payload.Length);
        await write.AsTask().WaitAsync(Timeout);
        _server!.Shutdown(SocketShutdown.Send);

        Assert.True(wasPending);
        Assert.Equal(payload, received);
        Assert.Equal(0, await _client!.ReceiveAsync(new byte[1], SocketFlags.None).WaitAsync(Timeout));
    }

    [Fact]
    public async Task A_pending_write_whose_socket_is_dropped_ends_with_an_io_exception()
    {
        var stream = new SocketSendStream(_server!);

        var write = stream.WriteAsync(new byte[1024 * 1024]);
        var wasPending = !write.IsCompleted;
        _server!.Dispose();

        Assert.True(wasPending);
        await Assert.ThrowsAsync<IOException>(async () => await write.AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task A_write_on_a_closed_socket_is_an_io_exception()
    {
        var stream = new SocketSendStream(_server!);
        _server!.Dispose();

        await Assert.ThrowsAsync<IOException>(async () => await stream.WriteAsync(new byte[10]));
    }

    [Fact]
    public async Task A_write_to_a_reset_connection_is_an_io_exception()
    {
        var stream = new SocketSendStream(_server!);
        _client!.LingerState = new LingerOption(true, 0);
        _client.Close();

        // The first send may still be taken before the reset is seen; a later one is refused.
        using var cancel = new CancellationTokenSource(Timeout);
        var failed = await Assert.ThrowsAsync<IOException>(async () =>
        {
            while (true)
            {
                await stream.WriteAsync(new byte[1024], cancel.Token);
            }
        });

        Assert.IsType<SocketException>(failed.InnerException);
    }

    private async Task<byte[]> ReceiveAsync(int length)
    {
        var buffer = new byte[length];
        using var cancel = new CancellationTokenSource(Timeout);
        for (var read = 0; read < length;)
        {
            var count = await _client!.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, cancel.Token);
            Assert.NotEqual(0, count);
            read += count;
        }

        return buffer;
    }
}
