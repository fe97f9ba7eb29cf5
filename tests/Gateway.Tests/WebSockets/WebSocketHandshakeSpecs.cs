using System.Text;
using Gateway.WebSockets;

namespace Gateway.Tests.WebSockets;

/// <summary>The lean path's 101 response, byte for byte (RFC 6455 §4.2.2, with the RFC's own key and accept value).</summary>
public sealed class WebSocketHandshakeSpecs
{
    private const string Key = "dGhlIHNhbXBsZSBub25jZQ==";

    [Fact]
    public void The_101_carries_the_accept_value_of_the_key_and_ends_the_head()
    {
        var response = Encoding.ASCII.GetString(WebSocketHandshake.SwitchingProtocols(Key, subprotocol: null));

        Assert.Equal(
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
            response);
        Assert.Equal("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", WebSocketHandshake.ComputeAccept(Key));
    }

    [Fact]
    public void The_101_names_the_selected_subprotocol()
    {
        var response = Encoding.ASCII.GetString(WebSocketHandshake.SwitchingProtocols(Key, "chat.v2"));

        Assert.Equal(
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat.v2\r\n\r\n",
            response);
    }
}
