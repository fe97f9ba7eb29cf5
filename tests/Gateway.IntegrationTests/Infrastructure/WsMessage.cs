using System.Net.WebSockets;
using System.Text;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>One whole message a client received.</summary>
public sealed record WsMessage(WebSocketMessageType Type, byte[] Data)
{
    public bool IsText => Type == WebSocketMessageType.Text;

    /// <summary>The data as UTF-8.</summary>
    public string Text => Encoding.UTF8.GetString(Data);

    public override string ToString() => IsText ? $"text {Text}" : $"binary {Convert.ToBase64String(Data)}";
}

/// <summary>How a client's socket ended: the close frame's code and reason, or 1006 with no frame when the connection was lost.</summary>
public sealed record WsClose(int Code, string Reason, bool FrameReceived)
{
    /// <summary>1006: the TCP connection ended with no close frame.</summary>
    public const int Abnormal = 1006;

    public override string ToString() => FrameReceived ? $"close {Code} \"{Reason}\"" : $"lost ({Code}) {Reason}";
}
