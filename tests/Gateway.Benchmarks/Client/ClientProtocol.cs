using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gateway.Benchmarks.Client;

/// <summary>
/// The control protocol between the orchestrator and a client process: one JSON object per line,
/// commands on the client's stdin, reports on its stdout (progress and errors go to stderr).
/// </summary>
public static class ClientProtocol
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingDefault,
    };

    /// <summary>Whether connection <paramref name="index"/> (global) is one of the share <paramref name="share"/> that never read: exactly floor(N * share) of N, evenly spread.</summary>
    public static bool IsSlow(int index, double share) =>
        share > 0 && Math.Floor((index + 1) * share) > Math.Floor(index * share);

    /// <summary>The user of connection <paramref name="index"/> (global), of <paramref name="users"/> users named u0, u1, ...</summary>
    public static int UserOf(int index, int users) => index % users;

    public static string UserName(int user) => FormattableString.Invariant($"u{user}");

    /// <summary>
    /// With <c>target users</c>, send s goes to the group of <paramref name="usersPerSend"/> consecutive users
    /// numbered s mod (U / usersPerSend); with one user per send, that is user s mod U.
    /// </summary>
    public static int GroupOfSend(long sequence, int users, int usersPerSend) => (int)(sequence % (users / usersPerSend));

    /// <summary>
    /// Messages of a fan-out phase that a connection of <paramref name="user"/> should get: all of them, or with
    /// <c>target users</c> the sequence numbers whose group (<see cref="GroupOfSend"/>) holds the user.
    /// </summary>
    public static int ExpectedFanout(int messages, string target, int users, int usersPerSend, int user)
    {
        if (target != "users")
        {
            return messages;
        }

        var groups = users / usersPerSend;
        var group = user / usersPerSend;
        return group < messages ? ((messages - group - 1) / groups) + 1 : 0;
    }
}

/// <summary>Orchestrator to client.</summary>
public sealed class ClientCommand
{
    /// <summary><c>warmup</c>, <c>connect</c>, <c>expect</c> (a fan-out phase), <c>echo</c>, <c>report</c> (the phase's figures now), <c>stats</c>, <c>close</c>.</summary>
    public string Cmd { get; set; } = "";

    public int Phase { get; set; }

    /// <summary>Fan-out: messages the orchestrator will send. Echo: messages each connection sends. Warm-up: connections to open and close.</summary>
    public int Messages { get; set; }

    /// <summary>Fan-out: <c>all</c> (every send to every user) or <c>users</c> (send s to the users of group s, see <see cref="ClientProtocol.GroupOfSend"/>).</summary>
    public string Target { get; set; } = "all";

    /// <summary>Fan-out with <c>target users</c>: users named in each send (a divisor of the user count).</summary>
    public int UsersPerSend { get; set; } = 1;

    /// <summary>Echo: messages in flight per connection.</summary>
    public int Window { get; set; }

    /// <summary>Echo: size to pad each message to.</summary>
    public int PayloadBytes { get; set; }

    /// <summary>Stats: stop pinging and wait (up to 3 s) for outstanding pongs first.</summary>
    public bool Quiesce { get; set; }
}

/// <summary>Client to orchestrator.</summary>
public sealed class ClientReport
{
    /// <summary><c>ready</c>, <c>warmedup</c>, <c>connected</c>, <c>ack</c>, <c>phase</c>, <c>stats</c>, <c>closed</c>, <c>error</c>.</summary>
    public string Type { get; set; } = "";

    public int Phase { get; set; }

    // connected
    public int Opened { get; set; }

    public int Failed { get; set; }

    public long StartTs { get; set; }

    public long EndTs { get; set; }

    public long[]? Handshake { get; set; }

    public Dictionary<string, int>? Errors { get; set; }

    // phase
    public int Connections { get; set; }

    public int Complete { get; set; }

    public int Lost { get; set; }

    public long Received { get; set; }

    public long Duplicates { get; set; }

    public long Missing { get; set; }

    public long Unexpected { get; set; }

    public long OutOfOrder { get; set; }

    public long Sent { get; set; }

    public long FirstTs { get; set; }

    public long LastTs { get; set; }

    public long[]? Latency { get; set; }

    /// <summary>The worst delivery latency (µs) of each send, by sequence (fan-out phases).</summary>
    public long[]? WorstBySend { get; set; }

    // stats
    public int Open { get; set; }

    public long PingsSent { get; set; }

    public long PongsReceived { get; set; }

    public Dictionary<string, int>? ServerCloses { get; set; }

    public string? Message { get; set; }
}
