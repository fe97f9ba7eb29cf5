using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gateway.Benchmarks.Measurement;

namespace Gateway.Benchmarks.Scenarios;

/// <summary>
/// The one JSON line a scenario run prints: scenario, the server under test (<c>gateway</c> or a peer),
/// parameters, figures, the headline figures a peer comparison puts side by side (<c>compare</c>), and
/// each target with its value and whether it was met, then <c>met</c> for all of them together.
/// </summary>
internal sealed class Report
{
    private static readonly JsonSerializerOptions Json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly JsonObject _targets = [];
    private readonly JsonObject _compare = [];
    private bool _allMet = true;

    public Report(string scenario, BenchmarkOptions options, JsonObject parameters, string? server = null)
    {
        Root["scenario"] = scenario;
        Root["server"] = server ?? "gateway";
        Server = server ?? "gateway";
        Root["parameters"] = parameters;
        Root["options"] = Counts(options.Given().ToDictionary(p => p.Key, p => p.Value));
    }

    public JsonObject Root { get; } = [];

    /// <summary><c>gateway</c>, or the peer this run measured.</summary>
    public string Server { get; }

    /// <summary>The headline figures a peer comparison divides (gateway over peer), by name; names carry their unit.</summary>
    public IReadOnlyDictionary<string, double> Compared => _compare.ToDictionary(p => p.Key, p => p.Value!.GetValue<double>());

    /// <summary>Whether the run's correctness check held (exactly once, order): a figure of a run that failed it compares nothing.</summary>
    public bool Correct { get; set; } = true;

    public JsonNode? this[string key]
    {
        get => Root[key];
        set => Root[key] = value;
    }

    /// <summary>A target: <paramref name="description"/> (e.g. "&gt;= 3000"), the measured value, and whether it was met.</summary>
    public void Target(string name, string description, JsonNode? value, bool met)
    {
        _targets[name] = new JsonObject { ["target"] = description, ["value"] = value, ["met"] = met };
        _allMet &= met;
    }

    public bool Met => _allMet;

    /// <summary>A headline figure for <c>--peer</c> comparisons (also printed in this run's line under <c>compare</c>).</summary>
    public void Compare(string name, double value) => _compare[name] = Math.Round(value, 3);

    /// <summary>Prints the line on stdout.</summary>
    public void Emit()
    {
        Root["compare"] = _compare;
        Root["correct"] = Correct;
        Root["targets"] = _targets;
        Root["met"] = _allMet;
        Console.Out.WriteLine(Root.ToJsonString(Json));
        Console.Out.Flush();
    }

    public static double Ms(long micros) => Math.Round(micros / 1000.0, 3);

    public static double Round(double value, int digits = 1) => Math.Round(value, digits);

    public static JsonObject Latency(LatencyHistogram histogram) => new()
    {
        ["count"] = histogram.Count,
        ["p50Ms"] = Ms(histogram.Percentile(50)),
        ["p90Ms"] = Ms(histogram.Percentile(90)),
        ["p99Ms"] = Ms(histogram.Percentile(99)),
        ["p999Ms"] = Ms(histogram.Percentile(99.9)),
        ["maxMs"] = Ms(histogram.Max),
        ["meanMs"] = Math.Round(histogram.Mean / 1000.0, 3),
    };

    public static JsonObject Counts<T>(Dictionary<string, T> counts)
    {
        var json = new JsonObject();
        foreach (var (key, value) in counts.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            json[key] = JsonValue.Create(value);
        }

        return json;
    }
}
