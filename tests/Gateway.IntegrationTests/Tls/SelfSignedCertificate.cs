using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Gateway.IntegrationTests.Tls;

/// <summary>
/// A self-signed server certificate for 127.0.0.1 and localhost, made for one test run with
/// <see cref="CertificateRequest"/> and written as a password-protected PFX into a fresh temporary
/// directory, which is deleted on dispose.
/// </summary>
public sealed class SelfSignedCertificate : IDisposable
{
    private readonly string _directory;

    private SelfSignedCertificate(string directory, string path, string password, string thumbprint)
    {
        _directory = directory;
        PfxPath = path;
        Password = password;
        Thumbprint = thumbprint;
    }

    /// <summary>The PFX file (certificate and private key).</summary>
    public string PfxPath { get; }

    /// <summary>The PFX password.</summary>
    public string Password { get; }

    /// <summary>The certificate's SHA-1 thumbprint, to recognise it on the client side.</summary>
    public string Thumbprint { get; }

    /// <summary>Creates an ECDSA P-256 server certificate valid from a minute ago for a day.</summary>
    public static SelfSignedCertificate Create()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=gateway-integration-tests", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false)); // server authentication

        var now = DateTimeOffset.UtcNow;
        using var certificate = request.CreateSelfSigned(now.AddMinutes(-1), now.AddDays(1));
        var password = Guid.NewGuid().ToString("N");
        var directory = Directory.CreateTempSubdirectory("gateway-tls-").FullName;
        var path = Path.Combine(directory, "gateway.pfx");
        File.WriteAllBytes(path, certificate.Export(X509ContentType.Pfx, password));
        return new SelfSignedCertificate(directory, path, password, certificate.Thumbprint);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: it is a temporary directory.
        }
    }
}
