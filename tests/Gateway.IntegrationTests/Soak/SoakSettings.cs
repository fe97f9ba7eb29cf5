using System.Globalization;

namespace Gateway.IntegrationTests.Soak;

/// <summary>
/// A soak run's size and seed. The suite runs the bounded form; <c>GATEWAY_SOAK_SECONDS</c> and
/// <c>GATEWAY_SOAK_SOCKETS</c> make it longer or wider, and <c>GATEWAY_SOAK_SEED</c> replays a run's choices
/// (which clients, their endings, pacing, the fault schedule, the pushes; the interleaving with the gateway
/// still varies from run to run).
/// </summary>
public sealed record SoakSettings(int Seed, TimeSpan Duration, int Sockets)
{
    /// <summary>Only these endings (<c>GATEWAY_SOAK_ENDINGS</c>, comma-separated names of <see cref="SoakEnding"/>, to replay one kind); empty: all.</summary>
    public IReadOnlyList<SoakEnding> Endings { get; init; } =
        (Environment.GetEnvironmentVariable("GATEWAY_SOAK_ENDINGS") ?? string.Empty)
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(name => Enum.Parse<SoakEnding>(name, ignoreCase: true))
            .ToList();

    /// <summary>Reads the environment, with <paramref name="seconds"/> and <paramref name="sockets"/> as the bounded defaults.</summary>
    public static SoakSettings FromEnvironment(int seconds, int sockets) => new(
        Read("GATEWAY_SOAK_SEED") ?? Random.Shared.Next(1, int.MaxValue),
        TimeSpan.FromSeconds(Read("GATEWAY_SOAK_SECONDS") ?? seconds),
        Read("GATEWAY_SOAK_SOCKETS") ?? sockets);

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"seed={Seed} seconds={Duration.TotalSeconds:0} sockets={Sockets}{(Endings.Count > 0 ? " endings=" + string.Join(',', Endings) : string.Empty)} (replay: GATEWAY_SOAK_SEED={Seed} GATEWAY_SOAK_SECONDS={Duration.TotalSeconds:0} GATEWAY_SOAK_SOCKETS={Sockets})");

    private static int? Read(string name) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value > 0 ? value : null;
}
