using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Jac;

/// <summary>
/// Base of the jac dialect's integration tests: connecting jac clients (token in the <c>Authorization</c>
/// header or the query), the public root, and the app's scripting put back to its defaults after each
/// test (tests of one collection share the app).
/// </summary>
public abstract class JacSpec(GatewayHost host, ITestOutputHelper output) : GatewaySpec(host, output)
{
    /// <summary>The client path, <c>Gateway:Jac:Path</c>'s default.</summary>
    protected const string JacPath = "/websocket";

    /// <summary>The public user's root id.</summary>
    protected const string PublicRoot = JacWire.PublicRoot;

    public override async Task DisposeAsync()
    {
        App.Responder = null;
        App.Delay = TimeSpan.Zero;
        App.StatusCode = 200;
        App.ResponseBody = null;
        await base.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>The URI of <paramref name="path"/> on <paramref name="host"/> with <paramref name="query"/> (without the <c>?</c>) exactly as given.</summary>
    protected Uri JacUri(string? query = null, GatewayHost? host = null, string path = JacPath)
    {
        var uri = (host ?? Host).Gateway.WebSocketUri(path);
        return string.IsNullOrEmpty(query) ? uri : new Uri(uri.GetLeftPart(UriPartial.Path) + "?" + query);
    }

    /// <summary>
    /// Opens a jac connection (<paramref name="bearer"/> in <c>Authorization: Bearer</c>, <paramref name="query"/> as the
    /// query string) and reads the connection event, which must be the first frame.
    /// </summary>
    protected async Task<JacClient> ConnectJacAsync(string? bearer = null, string? query = null, GatewayHost? host = null, string path = JacPath, string? userAgent = null)
    {
        var headers = new Dictionary<string, string>();
        if (bearer is not null)
        {
            headers["Authorization"] = "Bearer " + bearer;
        }

        var socket = Track(await WsClient.ConnectAsync(JacUri(query, host, path), userAgent: userAgent, headers: headers).ConfigureAwait(false));
        var greeting = await socket.ReceiveAsync().ConfigureAwait(false);
        Assert.True(greeting.IsText, $"the connection event is a text frame: {greeting}");
        return new JacClient(socket, greeting.Text, bearer);
    }

    /// <summary>A jac connection as the user of a fresh root (a valid token in the header); waits for its <c>open</c> callback.</summary>
    protected async Task<JacClient> ConnectAsRootAsync(string? rootHex = null, string? query = null)
    {
        var token = JacTokens.ForRoot(rootHex ?? JacTokens.NewRootHex());
        var client = await ConnectJacAsync(token, query).ConfigureAwait(false);
        await App.WaitForActionAsync(client.ClientId, "open").ConfigureAwait(false);
        return client;
    }

    /// <summary>A TAPR connection (<c>/ws</c>) with <c>X-Bfl-User: <paramref name="user"/></c>, once the app has its own <c>open</c> (not an earlier socket's of the same user); returns it and its conn_id.</summary>
    protected async Task<(WsClient Client, string ConnId)> ConnectTaprAsync(string user, string? cookie = null)
    {
        var earlier = App.OpenedBy(user);
        var client = await ConnectAsync(user, cookie).ConfigureAwait(false);
        var open = await App.WaitForOpenAsync(user, except: earlier).ConfigureAwait(false);
        return (client, open.ConnId!);
    }

    /// <summary>
    /// Sends <paramref name="marker"/> from <paramref name="sender"/> as a client event to every one of <paramref name="ids"/>
    /// (jac client ids or TAPR conn ids). It travels the same path as the sender's earlier events, so it arrives after
    /// anything those delivered: a client whose next frame is the marker got nothing else from them.
    /// </summary>
    protected static Task SendMarkerAsync(JacClient sender, string marker, params string[] ids) =>
        sender.SendAsync($"{{\"type\":\"client\",\"client_ids\":{JacWire.Array(ids)},\"data\":{marker}}}");
}
