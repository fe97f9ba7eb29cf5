using Akka.Actor;
using Akka.Configuration;
using Akka.Dispatch;
using Akka.Dispatch.MessageQueues;

namespace Gateway.Connections;

/// <summary>
/// The mailbox of every <see cref="ConnectionActor"/>: unbounded and FIFO like Akka's default, but
/// an idle connection's queue holds no buffer. Akka's default queue starts with a 32-slot segment per
/// actor (about 1 KB at 15,000 mostly idle sockets: most of the difference between an Akka actor and
/// our old kernel's); this one allocates a small queue on the first message and drops it again once
/// drained. Chosen with <c>Props.WithMailbox(<see cref="Id"/>)</c>; configured under that id in
/// <see cref="Hosting.AkkaSetup"/>.
/// </summary>
public sealed class ConnectionMailbox(Settings settings, Config config)
    : MailboxType(settings, config), IProducesMessageQueue<ConnectionMessageQueue>
{
    /// <summary>The configuration path of this mailbox.</summary>
    public const string Id = "gateway.connection-mailbox";

    /// <inheritdoc />
    public override IMessageQueue Create(IActorRef owner, ActorSystem system) => new ConnectionMessageQueue();
}

/// <summary>
/// A lock-protected FIFO whose buffer exists only while messages wait. A connection actor gets about
/// one message per client frame, mostly from one producer (its read loop), so an uncontended lock and
/// a small allocation per burst cost less than a lock-free segment kept alive for the socket's life.
/// </summary>
/// <remarks>
/// Locks on itself: no other code sees this instance but Akka's mailbox, which never locks it, and a
/// separate lock object would cost another allocation per connection.
/// </remarks>
public sealed class ConnectionMessageQueue : IMessageQueue, IUnboundedMessageQueueSemantics
{
    private Queue<Envelope>? _queue;
    private int _count;

    /// <inheritdoc />
    public bool HasMessages => Volatile.Read(ref _count) > 0;

    /// <inheritdoc />
    public int Count => Volatile.Read(ref _count);

    /// <inheritdoc />
    public void Enqueue(IActorRef receiver, Envelope envelope)
    {
        lock (this)
        {
            (_queue ??= new Queue<Envelope>(2)).Enqueue(envelope);
            _count++;
        }
    }

    /// <inheritdoc />
    public bool TryDequeue(out Envelope envelope)
    {
        lock (this)
        {
            if (_queue is null || !_queue.TryDequeue(out envelope))
            {
                envelope = default;
                return false;
            }

            if (--_count == 0)
            {
                _queue = null;
            }

            return true;
        }
    }

    /// <inheritdoc />
    public void CleanUp(IActorRef owner, IMessageQueue deadletters)
    {
        while (TryDequeue(out var envelope))
        {
            deadletters.Enqueue(owner, envelope);
        }
    }
}
