namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>
/// An xunit fixture owning one <see cref="GatewayHost"/> for many tests. Subclasses override
/// <see cref="Configure"/> for special settings; tests sharing one must not depend on the gateway
/// being otherwise idle (use unique users, and find callbacks by <c>conn_id</c>).
/// </summary>
public abstract class GatewayFixture : IAsyncLifetime
{
    private GatewayHost? _host;

    /// <summary>The app and gateway.</summary>
    public GatewayHost Host => _host ?? throw new InvalidOperationException("The fixture has not started.");

    public async Task InitializeAsync() => _host = await GatewayHost.StartAsync(Configure).ConfigureAwait(false);

    public async Task DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Settings of this fixture's gateway; none by default.</summary>
    protected virtual void Configure(GatewayProcessOptions options)
    {
    }
}

/// <summary>A gateway with default settings, shared by every test of <see cref="SharedGatewayCollection"/>.</summary>
public sealed class SharedGatewayFixture : GatewayFixture;

/// <summary>The tests that can share one default gateway; they run one after another.</summary>
[CollectionDefinition(Name)]
public sealed class SharedGatewayCollection : ICollectionFixture<SharedGatewayFixture>
{
    public const string Name = "Shared default gateway";
}
