using System.Text;

namespace Gateway.WebSockets;

/// <summary>Close codes the gateway sends (PROTOCOL.md §6) and the RFC 6455 §7.4.1 codes it reports.</summary>
internal static class CloseCodes
{
    public const int Normal = 1000;
    public const int GoingAway = 1001;
    public const int ProtocolError = 1002;
    public const int NoStatus = 1005;
    public const int Abnormal = 1006;
    public const int InvalidPayload = 1007;
    public const int PolicyViolation = 1008;
    public const int MessageTooBig = 1009;
    public const int InternalError = 1011;
    public const int TryAgainLater = 1013;
    public const int PingTimeout = 4000;
    public const int SlowConsumer = 4001;

    /// <summary>Longest close reason, in UTF-8 bytes: a control frame's 125 bytes less the 2-byte code (RFC 6455 §5.5).</summary>
    public const int MaxReasonBytes = 123;

    /// <summary><paramref name="reason"/> cut to <see cref="MaxReasonBytes"/> UTF-8 bytes, never inside a character.</summary>
    public static string Reason(string? reason)
    {
        if (string.IsNullOrEmpty(reason) || Encoding.UTF8.GetByteCount(reason) <= MaxReasonBytes)
        {
            return reason ?? string.Empty;
        }

        var bytes = Encoding.UTF8.GetBytes(reason);
        var length = MaxReasonBytes;
        while (length > 0 && (bytes[length] & 0xC0) == 0x80)
        {
            length--; // bytes[length] continues a sequence: cut before the sequence starts
        }

        return Encoding.UTF8.GetString(bytes, 0, length);
    }
}
