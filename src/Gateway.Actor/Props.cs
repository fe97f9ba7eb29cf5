namespace Gateway.Actor;

/// <summary>
/// The recipe for an actor: how to construct it (again, on every restart) and how to supervise its
/// children. Immutable; create it with <see cref="Create{TActor}(Func{TActor})"/>.
/// </summary>
public sealed class Props
{
    private readonly Func<ActorBase> _factory;

    private Props(Type type, Func<ActorBase> factory, SupervisorStrategy? supervisorStrategy)
    {
        Type = type;
        _factory = factory;
        SupervisorStrategy = supervisorStrategy;
    }

    /// <summary>The actor's type.</summary>
    public Type Type { get; }

    /// <summary>
    /// The strategy the actor applies to its children when it does not override
    /// <see cref="ActorBase.SupervisorStrategy"/>; <see langword="null"/> means the default strategy.
    /// </summary>
    public SupervisorStrategy? SupervisorStrategy { get; }

    /// <summary>
    /// Props that construct the actor with <paramref name="factory"/>, typically <c>() =&gt; new MyActor(arg)</c>.
    /// The factory runs on the actor's first start and on every restart, so it must build a fresh instance each time.
    /// </summary>
    public static Props Create<TActor>(Func<TActor> factory)
        where TActor : ActorBase
    {
        ArgumentNullException.ThrowIfNull(factory);
        return new Props(typeof(TActor), factory, null);
    }

    /// <summary>Props that construct the actor with its parameterless constructor.</summary>
    public static Props Create<TActor>()
        where TActor : ActorBase, new() => new(typeof(TActor), static () => new TActor(), null);

    /// <summary>A copy whose default strategy for the actor's children is <paramref name="strategy"/>.</summary>
    public Props WithSupervisorStrategy(SupervisorStrategy strategy)
    {
        ArgumentNullException.ThrowIfNull(strategy);
        return new Props(Type, _factory, strategy);
    }

    internal ActorBase NewActor() => _factory();

    /// <inheritdoc/>
    public override string ToString() => $"Props<{Type.Name}>";
}
