using Gateway.WebSockets;

namespace Gateway.Benchmarks.Scenarios;

/// <summary>A socket handler that ignores what it is told: the in-process socket scenarios measure the layer, not a dialect.</summary>
internal sealed class IgnoringInboundHandler : IInboundHandler
{
    public static readonly IgnoringInboundHandler Instance = new();

    public void OnMessage(byte[] payload, bool isText)
    {
    }

    public void OnHeartbeat()
    {
    }

    public void OnClosed(int code, string reason)
    {
    }
}
