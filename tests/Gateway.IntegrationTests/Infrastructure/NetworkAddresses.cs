using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>Addresses of this machine.</summary>
public static class NetworkAddresses
{
    /// <summary>An IPv4 address of an interface that is up and not loopback, or null when the machine has none.</summary>
    public static IPAddress? NonLoopbackIPv4()
    {
        foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
        {
            if (nic.OperationalStatus != OperationalStatus.Up || nic.NetworkInterfaceType == NetworkInterfaceType.Loopback)
            {
                continue;
            }

            foreach (var unicast in nic.GetIPProperties().UnicastAddresses)
            {
                var address = unicast.Address;
                if (address.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(address))
                {
                    return address;
                }
            }
        }

        return null;
    }
}
