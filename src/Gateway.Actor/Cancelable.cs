namespace Gateway.Actor;

/// <summary>A handle that cancels a scheduled task or message.</summary>
public interface ICancelable
{
    /// <summary>True once <see cref="Cancel"/> was called.</summary>
    bool IsCancellationRequested { get; }

    /// <summary>Cancels; a scheduled message that has not been sent yet will never be sent. Idempotent.</summary>
    void Cancel();
}

/// <summary>A stand-alone <see cref="ICancelable"/> that can guard several scheduled items at once.</summary>
public sealed class Cancelable : ICancelable
{
    private CancellationTokenSource? _source;
    private int _cancelled;

    /// <inheritdoc/>
    public bool IsCancellationRequested => Volatile.Read(ref _cancelled) == 1;

    /// <summary>A token that is cancelled with this handle.</summary>
    public CancellationToken Token
    {
        get
        {
            var source = LazyInitializer.EnsureInitialized(ref _source);
            if (IsCancellationRequested)
            {
                source.Cancel();
            }

            return source.Token;
        }
    }

    /// <inheritdoc/>
    public void Cancel()
    {
        if (Interlocked.Exchange(ref _cancelled, 1) == 0)
        {
            Volatile.Read(ref _source)?.Cancel();
        }
    }
}
