using System.Collections.Frozen;
using System.Security.Cryptography;

namespace Gateway.Admin;

/// <summary>
/// The admin page's static files (<c>Admin/Page/*</c>), embedded in the assembly at build time and
/// served from memory: no file system, no CDN, no build chain. Each file gets a strong ETag (its
/// SHA-256) so a browser revalidates instead of downloading again.
/// </summary>
internal sealed class AdminPage
{
    private const string ResourcePrefix = "AdminPage/";

    private static readonly FrozenDictionary<string, string> ContentTypes = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        [".html"] = "text/html; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
        [".svg"] = "image/svg+xml",
    }.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);

    private readonly FrozenDictionary<string, (byte[] Body, string ContentType, string ETag)> _files;

    private AdminPage(FrozenDictionary<string, (byte[] Body, string ContentType, string ETag)> files) => _files = files;

    /// <summary>Reads every embedded page file once.</summary>
    public static AdminPage Load()
    {
        var assembly = typeof(AdminPage).Assembly;
        var files = new Dictionary<string, (byte[], string, string)>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var body = copy.ToArray();
            var file = name[ResourcePrefix.Length..];
            var type = ContentTypes.GetValueOrDefault(Path.GetExtension(file), "application/octet-stream");
            files[file] = (body, type, "\"" + Convert.ToHexStringLower(SHA256.HashData(body))[..32] + "\"");
        }

        return new AdminPage(files.ToFrozenDictionary(StringComparer.Ordinal));
    }

    /// <summary>Names of the embedded files (for tests and diagnostics).</summary>
    public IEnumerable<string> Files => _files.Keys;

    /// <summary>Serves <paramref name="file"/> (empty: <c>index.html</c>), 304 on a matching ETag, 404 when unknown.</summary>
    public Task ServeAsync(HttpContext context, string? file)
    {
        if (!_files.TryGetValue(string.IsNullOrEmpty(file) ? "index.html" : file, out var entry))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        }

        var response = context.Response;
        response.Headers.ETag = entry.ETag;
        response.Headers.CacheControl = "no-cache";
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers["Content-Security-Policy"] = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";
        if (context.Request.Headers.IfNoneMatch.ToString() == entry.ETag)
        {
            response.StatusCode = StatusCodes.Status304NotModified;
            return Task.CompletedTask;
        }

        response.ContentType = entry.ContentType;
        response.ContentLength = entry.Body.Length;
        return response.Body.WriteAsync(entry.Body).AsTask();
    }
}
