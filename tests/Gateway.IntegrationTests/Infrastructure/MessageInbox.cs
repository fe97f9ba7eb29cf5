using System.Threading.Channels;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>
/// Reading the messages a test client has received, in order: one implementation for <see cref="WsClient"/>
/// (ClientWebSocket) and <see cref="NodeWsConnection"/> (npm <c>ws</c>).
/// </summary>
internal static class MessageInbox
{
    /// <summary>
    /// The next message from <paramref name="messages"/>; a <see cref="TimeoutException"/> if none comes within
    /// <paramref name="timeout"/> (default <see cref="TestTimeouts.Default"/>), an <see cref="InvalidOperationException"/>
    /// if the client closed first.
    /// </summary>
    public static async Task<WsMessage> ReceiveAsync(ChannelReader<WsMessage> messages, Task<WsClose> closed, string client, TimeSpan? timeout)
    {
        var limit = timeout ?? TestTimeouts.Default;
        using var cancel = new CancellationTokenSource(limit);
        try
        {
            if (await messages.WaitToReadAsync(cancel.Token).ConfigureAwait(false) && messages.TryRead(out var message))
            {
                return message;
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{client}: no message within {limit}");
        }

        throw new InvalidOperationException($"{client} closed before a message came: {(closed.IsCompleted ? closed.Result : "?")}");
    }

    /// <summary>Asserts that <paramref name="receive"/> times out within <paramref name="window"/> (default <see cref="TestTimeouts.Quiet"/>).</summary>
    public static async Task AssertNoMessageAsync(Func<TimeSpan, Task<WsMessage>> receive, TimeSpan? window)
    {
        try
        {
            var message = await receive(window ?? TestTimeouts.Quiet).ConfigureAwait(false);
            Assert.Fail($"Expected no message, got {message}");
        }
        catch (TimeoutException)
        {
            // As expected.
        }
    }
}
