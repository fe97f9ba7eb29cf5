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

/// <summary>A transport with nothing under it: the in-process socket scenarios run over bare pipes.</summary>
internal sealed class DetachedTransport : ISocketTransport
{
    public static readonly DetachedTransport Instance = new();

    public void Abort()
    {
    }

    public void OnEnded(int code)
    {
    }
}
