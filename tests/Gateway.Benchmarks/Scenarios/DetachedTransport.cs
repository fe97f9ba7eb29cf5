using Gateway.WebSockets;

namespace Gateway.Benchmarks.Scenarios;

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
