using System.Text.Json;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Jac;

/// <summary>One connection as <c>GET /tapr/ws/conn/list</c> shows it: the user entry it is under, and its fields.</summary>
/// <param name="User">The <c>name</c> of the user entry.</param>
/// <param name="IsPublic">Whether it is under <c>public_conns</c> (else <c>conns</c>).</param>
/// <param name="Fields">The connection's object, as sent.</param>
public sealed record ListedConnection(string User, bool IsPublic, JsonElement Fields)
{
    public string Id => Fields.GetProperty("id").GetString()!;

    public string Token => Fields.GetProperty("token").GetString()!;

    /// <summary>The per-connection <c>channels</c> (Extension).</summary>
    public IReadOnlyList<string> Channels => [.. Fields.GetProperty("channels").EnumerateArray().Select(c => c.GetString()!)];

    /// <summary>The per-connection <c>dialect</c> (Extension).</summary>
    public string Dialect => Fields.GetProperty("dialect").GetString()!;

    /// <summary>Every connection of the list, flattened; asserts the answer is a success.</summary>
    public static async Task<IReadOnlyList<ListedConnection>> ReadAllAsync(GatewayProcess gateway)
    {
        var response = await gateway.Admin.ListAsync().ConfigureAwait(false);
        using var document = JsonDocument.Parse(response.Body);
        var root = document.RootElement;
        Assert.Equal(0, root.GetProperty("code").GetInt32());
        var result = new List<ListedConnection>();
        foreach (var user in root.GetProperty("data").EnumerateArray())
        {
            var name = user.GetProperty("name").GetString()!;
            result.AddRange(user.GetProperty("conns").EnumerateArray().Select(c => new ListedConnection(name, false, c.Clone())));
            result.AddRange(user.GetProperty("public_conns").EnumerateArray().Select(c => new ListedConnection(name, true, c.Clone())));
        }

        return result;
    }

    /// <summary>The connections listed with id <paramref name="id"/> (one, normally).</summary>
    public static async Task<IReadOnlyList<ListedConnection>> FindAsync(GatewayProcess gateway, string id) =>
        [.. (await ReadAllAsync(gateway).ConfigureAwait(false)).Where(c => c.Id == id)];
}
