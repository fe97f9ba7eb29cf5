using Akka.Actor;
using Akka.Event;

namespace Gateway.Connections;

/// <summary>
/// Gives back the inbound budget of client frames that never reached their connection actor. A read loop counts
/// a frame against its connection's <see cref="WebSockets.InboundFlow"/> before telling the actor; when the actor
/// has stopped meanwhile (it failed, was stopped from outside, or gave up waiting for its socket), Akka hands
/// the frame to dead letters, and without this its bytes would stay counted for the life of the process,
/// shrinking the shared budget (<c>Gateway:Limits:InboundPendingBytesTotal</c>) until every socket pauses.
/// </summary>
/// <remarks>
/// Subscribed to <see cref="AllDeadLetters"/> on the event stream: frames are <see cref="IDeadLetterSuppression"/>,
/// so they arrive as <see cref="SuppressedDeadLetter"/> and are not logged; jac walker requests arrive as
/// <see cref="DeadLetter"/>. Costs nothing while nothing is dead-lettered.
/// </remarks>
internal sealed class UndeliveredFramesActor : ActorBase
{
    /// <summary>The props of the one instance per actor system.</summary>
    public static Props Props() => Akka.Actor.Props.Create<UndeliveredFramesActor>();

    protected override void PreStart() => Context.System.EventStream.Subscribe(Self, typeof(AllDeadLetters));

    protected override void PostStop() => Context.System.EventStream.Unsubscribe(Self);

    protected override bool Receive(object message)
    {
        if (message is AllDeadLetters dead)
        {
            var frame = dead.Message switch
            {
                ConnectionProtocol.ForwardToApp forward => forward,
                ConnectionProtocol.ForwardWithReply request => request.Message,
                _ => null,
            };
            frame?.Flow?.Release(frame.Frame.Length);
            return true;
        }

        return false;
    }
}
