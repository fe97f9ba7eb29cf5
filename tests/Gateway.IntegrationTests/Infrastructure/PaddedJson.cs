using System.Globalization;
using System.Text;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>Numbered JSON messages of an exact size, for specs that count bytes (backpressure, queues, closes).</summary>
public static class PaddedJson
{
    /// <summary><c>{"event":"<paramref name="eventName"/>","n":<paramref name="n"/>,"pad":"xx…"}</c>, exactly <paramref name="bytes"/> bytes of ASCII.</summary>
    public static string Numbered(string eventName, int n, int bytes)
    {
        var head = string.Create(CultureInfo.InvariantCulture, $"{{\"event\":\"{eventName}\",\"n\":{n},\"pad\":\"");
        return head + new string('x', bytes - head.Length - 2) + "\"}";
    }

    /// <summary><see cref="Numbered"/> as UTF-8 bytes.</summary>
    public static byte[] NumberedBytes(string eventName, int n, int bytes) => Encoding.UTF8.GetBytes(Numbered(eventName, n, bytes));
}
