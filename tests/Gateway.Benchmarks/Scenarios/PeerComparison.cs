using System.Globalization;
using System.Text.Json.Nodes;
using Gateway.Benchmarks.Orchestration;

namespace Gateway.Benchmarks.Scenarios;

/// <summary>
/// <c>--peer ws|bun|all</c>: runs a scenario against the gateway, then against each named hand-written
/// peer (<see cref="Peers"/>), one after the other on fresh test beds with the same options, prints each
/// run's line as usual, then one comparison line: every headline figure (<see cref="Report.Compare"/>)
/// of each server, and the ratio gateway/peer. Without <c>--peer</c> only the gateway runs, as before.
/// Ratios from one command are what count: absolute figures move 10–30 % between runs on a shared machine.
/// </summary>
internal static class PeerComparison
{
    /// <summary>Runs <paramref name="runOnce"/> (given the peer, null for the gateway, and the log directory) for every server.</summary>
    public static async Task<int> RunAsync(string scenario, BenchmarkOptions options, Func<string?, string, Task<Report>> runOnce)
    {
        var peers = Peers.FromOptions(options);
        var logs = Testbed.LogDirectory(options);
        var reports = new List<Report> { await runOnce(null, logs).ConfigureAwait(false) };
        foreach (var peer in peers)
        {
            reports.Add(await runOnce(peer, logs).ConfigureAwait(false));
        }

        if (peers.Count == 0)
        {
            return 0;
        }

        var line = Comparison(scenario, reports);
        Progress.Write($"{scenario}: gateway/peer ratios: " + string.Join("; ", Ratios(line)));
        Console.Out.WriteLine(line.ToJsonString());
        Console.Out.Flush();
        return 0;
    }

    /// <summary>
    /// <c>{"scenario":..,"comparison":"gateway/peer","servers":[..],"correct":{server:bool},
    /// "figures":{name:{"gateway":x,"ws":y,"gateway/ws":x/y,..}}}</c>.
    /// </summary>
    private static JsonObject Comparison(string scenario, IReadOnlyList<Report> reports)
    {
        var gateway = reports[0];
        var figures = new JsonObject();
        foreach (var (name, value) in gateway.Compared)
        {
            var figure = new JsonObject { ["gateway"] = value };
            foreach (var peer in reports.Skip(1))
            {
                figure[peer.Server] = peer.Compared.TryGetValue(name, out var v) ? v : null;
            }

            foreach (var peer in reports.Skip(1))
            {
                figure["gateway/" + peer.Server] = peer.Compared.TryGetValue(name, out var v) && v != 0 ? Math.Round(value / v, 3) : null;
            }

            figures[name] = figure;
        }

        var correct = new JsonObject();
        foreach (var report in reports)
        {
            correct[report.Server] = report.Correct;
        }

        return new JsonObject
        {
            ["scenario"] = scenario,
            ["comparison"] = "gateway/peer",
            ["servers"] = new JsonArray([.. reports.Select(r => (JsonNode)r.Server)]),
            ["correct"] = correct,
            ["figures"] = figures,
        };
    }

    private static IEnumerable<string> Ratios(JsonObject line)
    {
        foreach (var (name, figure) in line["figures"]!.AsObject())
        {
            var ratios = figure!.AsObject()
                .Where(p => p.Key.StartsWith("gateway/", StringComparison.Ordinal))
                .Select(p => $"{p.Key[8..]} {(p.Value is null ? "-" : p.Value.GetValue<double>().ToString("0.00", CultureInfo.InvariantCulture))}");
            yield return $"{name} {string.Join(", ", ratios)}";
        }
    }
}
