using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Edge;

/// <summary>
/// The lean path's own transport (<c>Gateway:Sockets:LeanTransport</c>, on by default): a socket whose first read is a
/// complete upgrade head for a dialect's path is served on the BCL's sockets and never becomes a Kestrel connection;
/// anything else is handed to Kestrel unread, where the lean path's middleware and the HTTP stack serve it as before.
/// Kestrel's <c>kestrel.active_connections</c> shows which way a socket went.
/// </summary>
[Collection(SharedGatewayCollection.Name)]
public sealed class LeanTransportSpecs(SharedGatewayFixture fixture, ITestOutputHelper output) : GatewaySpec(fixture.Host, output)
{
    [Theory]
    [InlineData(true, 0)]
    [InlineData(false, 1)]
    public async Task A_lean_path_socket_is_a_Kestrel_connection_only_with_the_lean_transport_off(bool leanTransport, int kestrelConnections)
    {
        var own = await StartOwnGatewayAsync(o => o.With("Sockets", "LeanTransport", leanTransport ? "true" : "false"), $"gateway with LeanTransport={leanTransport}");
        var admin = own.Gateway.Admin;
        var kestrelBefore = await admin.MetricAsync("kestrel_active_connections");

        var (client, _) = await ConnectAndOpenAsync(UniqueUser("transport"), host: own);
        await client.SendTextAsync("{\"event\":\"ping\"}");

        Assert.Equal("{\"event\":\"pong\"}", await client.ReceiveTextAsync());
        Assert.Equal(1, await admin.MetricAsync("gateway_connection_active"));
        Assert.Equal(kestrelBefore + kestrelConnections, await admin.MetricAsync("kestrel_active_connections"));
    }

    [Fact]
    public async Task A_head_that_arrives_in_pieces_goes_to_Kestrel_and_still_upgrades()
    {
        var own = await StartOwnGatewayAsync();
        var user = UniqueUser("split-head");
        var request = RawHttp.UpgradeRequest("/ws", own.Gateway.Port, "X-Bfl-User: " + user);

        // The first piece is not a whole head: the transport hands the connection to Kestrel, which counts it.
        var response = await SendInTwoPiecesAsync(own, request, 24);

        Assert.Equal(101, response.Status);
        Assert.Equal(user, (await own.App.WaitForOpenAsync(user)).UserName);
    }

    /// <summary>
    /// The lean path's middleware reads a head in pieces until it can tell whether it is an upgrade it serves; when it
    /// is not, Kestrel's HTTP stack gets the connection with nothing consumed and answers the request.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_plain_request_that_arrives_in_pieces_is_answered_by_the_HTTP_stack(bool leanTransport)
    {
        var own = await StartOwnGatewayAsync(o => o.With("Sockets", "LeanTransport", leanTransport ? "true" : "false"), $"gateway with LeanTransport={leanTransport}");
        var request = $"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{own.Gateway.Port}\r\nConnection: close\r\n\r\n";

        // Kestrel has the connection before the rest is written (with the lean transport, handed over for its half head),
        // so the rest usually arrives as a read of its own.
        var response = await SendInTwoPiecesAsync(own, request, 20);

        Assert.Equal(200, response.Status);
    }

    /// <summary>
    /// Writes <paramref name="request"/> in two pieces, split at <paramref name="splitAt"/> characters, the second once
    /// Kestrel counts the connection; returns the response.
    /// </summary>
    private async Task<RawHttpResponse> SendInTwoPiecesAsync(GatewayHost own, string request, int splitAt)
    {
        var admin = own.Gateway.Admin;
        var kestrelBefore = await admin.MetricAsync("kestrel_active_connections");
        var raw = Track(await RawHttp.ConnectAsync(own.Gateway.Port));
        await raw.WriteAsync(request[..splitAt]);
        await Wait.UntilAsync(
            async () => await admin.MetricAsync("kestrel_active_connections") > kestrelBefore,
            what: "the connection with part of a head in Kestrel's hands");
        await raw.WriteAsync(request[splitAt..]);
        return await raw.ReadResponseAsync();
    }
}
