using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.Benchmarks.App;

/// <summary>A Kestrel server in this process, without logging or routing, on 127.0.0.1.</summary>
internal static class LoopbackKestrel
{
    /// <summary>
    /// Starts a server on <paramref name="port"/> (0: a free one) answering every request with
    /// <paramref name="handler"/>; returns it (the caller disposes it) and the address it is listening on.
    /// </summary>
    public static async Task<(WebApplication Server, Uri Address)> StartAsync(int port, RequestDelegate handler)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port));
        var server = builder.Build();
        try
        {
            server.Run(handler);
            await server.StartAsync().ConfigureAwait(false);
            var address = server.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return (server, new Uri(address));
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}
