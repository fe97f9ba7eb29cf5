using System.Globalization;
using System.Text.Json;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>The delivery receipt of an admin send (PROTOCOL.md §4 Extension): targets matched, frames queued, targets dropped.</summary>
public sealed record DeliveryReceipt(int Matched, int Enqueued, int Dropped)
{
    /// <summary>Reads <c>{"code":0,"data":{"matched":N,"enqueued":N,"dropped":N},...}</c>; fails the test on any other answer.</summary>
    public static DeliveryReceipt Parse(AdminResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        using var document = JsonDocument.Parse(response.Body);
        var root = document.RootElement;
        Assert.True(root.GetProperty("code").GetInt32() == 0, $"admin send failed: {response}");
        var data = root.GetProperty("data");
        return new DeliveryReceipt(data.GetProperty("matched").GetInt32(), data.GetProperty("enqueued").GetInt32(), data.GetProperty("dropped").GetInt32());
    }
}

/// <summary>Reads of the admin API and of the gateway process that the fault, limit and shutdown specs share.</summary>
public static class FaultsAdminReads
{
    /// <summary>The id of every connection <c>GET /tapr/ws/conn/list</c> shows, private and public, of every user.</summary>
    public static async Task<IReadOnlySet<string>> ListConnectionIdsAsync(this AdminClient admin)
    {
        ArgumentNullException.ThrowIfNull(admin);
        var response = await admin.ListAsync().ConfigureAwait(false);
        using var document = JsonDocument.Parse(response.Body);
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var user in document.RootElement.GetProperty("data").EnumerateArray())
        {
            foreach (var kind in (string[])["conns", "public_conns"])
            {
                foreach (var connection in user.GetProperty(kind).EnumerateArray())
                {
                    Assert.True(ids.Add(connection.GetProperty("id").GetString()!), $"connection listed twice: {connection}");
                }
            }
        }

        return ids;
    }

    /// <summary>The resident set size of process <paramref name="processId"/> (<c>VmRSS</c> of <c>/proc/&lt;pid&gt;/status</c>), in bytes.</summary>
    public static long ResidentBytes(int processId)
    {
        foreach (var line in File.ReadLines($"/proc/{processId}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                var kilobytes = line["VmRSS:".Length..].Trim().Split(' ')[0];
                return long.Parse(kilobytes, CultureInfo.InvariantCulture) * 1024;
            }
        }

        throw new InvalidOperationException($"No VmRSS in /proc/{processId}/status");
    }

    /// <summary>How many files process <paramref name="processId"/> has open (entries of <c>/proc/&lt;pid&gt;/fd</c>).</summary>
    public static int OpenFileCount(int processId) => Directory.GetFileSystemEntries($"/proc/{processId}/fd").Length;

    /// <summary>
    /// What process <paramref name="processId"/> has open: the target of each <c>/proc/&lt;pid&gt;/fd</c> link
    /// (<c>socket:[inode]</c>, <c>anon_inode:[eventpoll]</c>, a path), or the link itself when it closed meanwhile.
    /// </summary>
    public static IReadOnlyList<string> OpenFiles(int processId) =>
        [.. Directory.GetFileSystemEntries($"/proc/{processId}/fd").Select(static fd =>
        {
            try
            {
                return new FileInfo(fd).LinkTarget ?? fd;
            }
            catch (IOException)
            {
                return fd;
            }
        })];

    /// <summary>
    /// The files in <paramref name="now"/> that were not in <paramref name="before"/>, for a failure message: sockets
    /// counted, anything else named (an assembly loaded late, say).
    /// </summary>
    public static string DescribeNewFiles(IReadOnlyList<string> before, IReadOnlyList<string> now)
    {
        var added = now.Except(before, StringComparer.Ordinal).ToList();
        var sockets = added.Count(static file => file.StartsWith("socket:", StringComparison.Ordinal));
        var others = added.Where(static file => !file.StartsWith("socket:", StringComparison.Ordinal));
        return $"{added.Count} files opened since ({sockets} sockets): {string.Join(", ", others)}";
    }
}
