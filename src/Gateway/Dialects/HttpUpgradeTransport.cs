using System.IO.Pipelines;
using Gateway.WebSockets;

namespace Gateway.Dialects;

/// <summary>
/// The HTTP path: the request went through Kestrel's HTTP stack (always so for <c>wss://</c>, and for
/// anything the lean path leaves alone); the WebSocket runs over the upgraded request stream.
/// </summary>
internal sealed class HttpUpgradeTransport(HttpContext context) : IUpgradeTransport
{
    public CancellationToken ConnectionClosed => context.RequestAborted;

    public bool ReadsAhead => true;

    public bool CanUpgrade => context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpUpgradeFeature>()?.IsUpgradableRequest == true;

    public async Task RefuseAsync(int status, string body, params (string Name, string Value)[] headers)
    {
        context.Response.StatusCode = status;
        foreach (var (name, value) in headers)
        {
            context.Response.Headers[name] = value;
        }

        await context.Response.WriteAsync(body).ConfigureAwait(false);
    }

    public async Task<(PipeReader Input, PipeWriter Output)> AcceptAsync(string key, string? subprotocol)
    {
        var stream = await WebSocketHandshake.AcceptAsync(context, key, subprotocol).ConfigureAwait(false);
        return (
            PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 4096, minimumReadSize: 1024, leaveOpen: true, useZeroByteReads: true)),
            PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 16 * 1024, leaveOpen: true)));
    }

    public void Abort() => context.Abort();
}
