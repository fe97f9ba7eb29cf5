using Gateway.Benchmarks.Measurement;

namespace Gateway.Benchmarks.Client;

/// <summary>
/// One measured phase of a client process (a fan-out run or an echo run): what each connection expects,
/// the latencies recorded by every thread, and the count of connections finished (complete or lost).
/// </summary>
internal sealed class ClientPhase
{
    private readonly ThreadLocal<LatencyHistogram> _latency = new(() => new LatencyHistogram(), trackAllValues: true);
    private readonly Action<ClientPhase> _onDone;
    private readonly long[] _worstBySend;
    private int _finished;
    private int _done;

    public ClientPhase(ClientCommand command, Action<ClientPhase> onDone)
    {
        Id = command.Phase;
        IsEcho = command.Cmd == "echo";
        Messages = command.Messages;
        Target = command.Target;
        UsersPerSend = Math.Max(1, command.UsersPerSend);
        Window = Math.Max(1, command.Window);
        PayloadBytes = command.PayloadBytes;
        _worstBySend = new long[IsEcho ? 0 : Math.Max(0, Messages)];
        _onDone = onDone;
    }

    public int Id { get; }

    public bool IsEcho { get; }

    public int Messages { get; }

    public string Target { get; }

    public int UsersPerSend { get; }

    public int Window { get; }

    public int PayloadBytes { get; }

    /// <summary>Connections taking part (open and reading when the phase began).</summary>
    public int Active { get; set; }

    public int Lost;

    /// <summary>
    /// Records one delivery's latency (µs), and keeps the worst for each send of a fan-out (by the payload's
    /// sequence, 0 to <see cref="Messages"/> − 1): a tail made by a few slow sends shows which ones.
    /// </summary>
    public void Record(long micros, long sequence)
    {
        _latency.Value!.Record(micros);
        if ((ulong)sequence < (ulong)_worstBySend.Length)
        {
            ref var worst = ref _worstBySend[sequence];
            var seen = Volatile.Read(ref worst);
            while (micros > seen)
            {
                var was = Interlocked.CompareExchange(ref worst, micros, seen);
                if (was == seen)
                {
                    break;
                }

                seen = was;
            }
        }
    }

    /// <summary>The worst latency (µs) of each send's deliveries, by sequence; 0 where none arrived.</summary>
    public long[] WorstBySend() => [.. _worstBySend];

    public LatencyHistogram Latency()
    {
        var total = new LatencyHistogram();
        foreach (var histogram in _latency.Values)
        {
            total.Add(histogram);
        }

        return total;
    }

    public void ConnectionDone() => Finished();

    /// <summary>Counts <paramref name="connections"/> as finished without a message (they expect none).</summary>
    public void Finish(int connections) => Interlocked.Add(ref _finished, connections);

    public void ConnectionLost()
    {
        Interlocked.Increment(ref Lost);
        Finished();
    }

    /// <summary>Reports the phase if every connection has finished (also when none take part).</summary>
    public void CheckDone()
    {
        if (Volatile.Read(ref _finished) >= Active && Interlocked.Exchange(ref _done, 1) == 0)
        {
            _onDone(this);
        }
    }

    private void Finished()
    {
        Interlocked.Increment(ref _finished);
        CheckDone();
    }
}
