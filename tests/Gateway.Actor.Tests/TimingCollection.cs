namespace Gateway.Tests.Actor;

/// <summary>Specs that measure lateness run after the parallel ones, with no other spec of this assembly beside them.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimingCollection
{
    public const string Name = "Timing";
}
