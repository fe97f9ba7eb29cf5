using System.Text.Json;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Jac;

/// <summary>
/// A jac client (<see cref="WsClient"/>) and the connection event it got on accept: its client id, root id
/// and channel id as the gateway announced them.
/// </summary>
public sealed class JacClient(WsClient socket, string greeting, string? token)
{
    public WsClient Socket { get; } = socket;

    /// <summary>The exact text of the connection event received on accept.</summary>
    public string Greeting { get; } = greeting;

    /// <summary>The token it connected with (null: none).</summary>
    public string? Token { get; } = token;

    public string ClientId { get; } = Field(greeting, "client_id");

    public string RootId { get; } = Field(greeting, "root_id");

    public string ChannelId { get; } = Field(greeting, "channel_id");

    public Task SendAsync(string text) => Socket.SendTextAsync(text);

    public Task<string> ReceiveTextAsync(TimeSpan? timeout = null) => Socket.ReceiveTextAsync(timeout);

    public Task AssertNoMessageAsync(TimeSpan? window = null) => Socket.AssertNoMessageAsync(window);

    /// <summary>Reads one field of a connection event's <c>data</c>.</summary>
    public static string Field(string connectionEvent, string name)
    {
        using var document = JsonDocument.Parse(connectionEvent);
        return document.RootElement.GetProperty("data").GetProperty(name).GetString()!;
    }

    public override string ToString() => $"jac client {ClientId} root {RootId} channel {ChannelId}";
}
