using Akka.Actor;

namespace Gateway.Hosting;

/// <summary>
/// Creates an actor by calling a factory: Akka's <see cref="IIndirectActorProducer"/> for
/// <c>Props.CreateBy</c>. Unlike <c>Props.Create(() =&gt; new T(…))</c>, nothing is taken apart by
/// reflection when the props are made (that costs microseconds on every connect), and the
/// constructor need not be public.
/// </summary>
/// <typeparam name="TActor">The actor type.</typeparam>
internal sealed class ActorFactory<TActor>(Func<TActor> create) : IIndirectActorProducer
    where TActor : ActorBase
{
    /// <summary>Props that create the actor with <paramref name="create"/> (on every start and restart).</summary>
    public static Props Props(Func<TActor> create) => Akka.Actor.Props.CreateBy(new ActorFactory<TActor>(create));

    /// <inheritdoc />
    public Type ActorType => typeof(TActor);

    /// <inheritdoc />
    public ActorBase Produce() => create();

    /// <inheritdoc />
    public void Release(ActorBase actor)
    {
    }
}
