using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Discovery;

namespace Gateway.Cluster;

/// <summary>
/// Akka.Discovery over plain DNS A/AAAA records (Akka.NET ships no DNS discovery): the addresses a headless
/// Service's name resolves to, one per ready (or, with <c>publishNotReadyAddresses</c>, every) pod, each with the
/// management port from <c>akka.discovery.gateway-dns.port</c>. Used by Cluster Bootstrap in
/// <see cref="ClusterDiscovery.Dns"/> mode; needs no access to the Kubernetes API.
/// </summary>
public sealed class DnsServiceDiscovery(ExtendedActorSystem system) : ServiceDiscovery
{
    /// <summary>The config path of this method under <c>akka.discovery</c>.</summary>
    public const string Method = "gateway-dns";

    /// <summary>The HOCON that registers this method with <paramref name="port"/> as every target's port.</summary>
    public static string Config(int port) =>
        $"akka.discovery.{Method} {{ class = \"{typeof(DnsServiceDiscovery).AssemblyQualifiedName}\", port = {port.ToString(System.Globalization.CultureInfo.InvariantCulture)} }}";

    private readonly int _port = system.Settings.Config.GetInt($"akka.discovery.{Method}.port", 8558);

    /// <summary>Resolves <paramref name="lookup"/>'s service name; a name that does not resolve gives no targets (bootstrap retries).</summary>
    public override async Task<Resolved> Lookup(Lookup lookup, TimeSpan resolveTimeout)
    {
        using var timeout = new CancellationTokenSource(resolveTimeout);
        IPAddress[] addresses;
        try
        {
            addresses = await Dns.GetHostAddressesAsync(lookup.ServiceName, timeout.Token).ConfigureAwait(false);
        }
        catch (SocketException)
        {
            addresses = [];
        }

        var targets = addresses
            .Where(static a => a.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6)
            .Distinct()
            .Select(a => new ResolvedTarget(a.ToString(), _port, a));
        return new Resolved(lookup.ServiceName, targets);
    }
}
