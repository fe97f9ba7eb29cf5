using Xunit.Abstractions;

namespace Gateway.Actor.TestKit;

/// <summary>
/// The xunit base class for actor tests, shaped like Akka.TestKit.Xunit2's: each test gets a fresh
/// <see cref="TestKitBase.Sys"/>, <see cref="TestKitBase.TestActor"/> is the implicit sender of
/// <c>Tell</c> from test code, and the system is terminated when xunit disposes the test.
/// </summary>
public abstract class TestKit : TestKitBase, IDisposable
{
    private bool _disposed;

    /// <summary>Creates a fresh system named "test" (logging to <paramref name="output"/> when given).</summary>
    protected TestKit(ActorSystemSettings? settings = null, ITestOutputHelper? output = null)
        : this(CreateSystem(settings, output))
    {
    }

    /// <summary>Uses <paramref name="system"/>, which the test kit terminates on dispose.</summary>
    protected TestKit(ActorSystem system)
        : base(system, "testActor")
    {
        ActorCell.SetAmbientSender(TestActor);
    }

    /// <summary>Terminates the system, waiting at most <see cref="TestKitBase.DefaultTimeout"/> times two.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Terminates the system on first call.</summary>
    protected virtual void Dispose(bool disposing)
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (disposing)
        {
            ActorCell.SetAmbientSender(null);
            if (!Sys.Terminate().Wait(DefaultTimeout * 2))
            {
                throw new TimeoutException($"The actor system {Sys.Name} did not terminate within {DefaultTimeout * 2}.");
            }
        }
    }

    private static ActorSystem CreateSystem(ActorSystemSettings? settings, ITestOutputHelper? output)
    {
        settings ??= ActorSystemSettings.Default;
        if (output is not null && settings.LoggerFactory is null)
        {
            settings = settings with { LoggerFactory = new TestOutputLoggerFactory(output) };
        }

        return ActorSystem.Create("test", settings);
    }
}

/// <summary>
/// A stand-in actor for tests: pass <see cref="Ref"/> where an actor is expected, then assert on
/// what it received. Created with <see cref="TestKitBase.CreateTestProbe"/>.
/// </summary>
public sealed class TestProbe : TestKitBase, ICanTell
{
    internal TestProbe(ActorSystem system, string? name)
        : base(system, name ?? "testProbe")
    {
    }

    /// <summary>The probe's actor reference.</summary>
    public IActorRef Ref => TestActor;

    /// <summary>Tells <paramref name="message"/> to the probe itself.</summary>
    public void Tell(object message, IActorRef? sender) => TestActor.Tell(message, sender);

    /// <inheritdoc/>
    public override string ToString() => $"TestProbe({TestActor.Path})";
}
