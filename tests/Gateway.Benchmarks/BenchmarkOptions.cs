using System.Globalization;

namespace Gateway.Benchmarks;

/// <summary>"--key value" pairs from the command line, with typed defaults.</summary>
public sealed class BenchmarkOptions
{
    private readonly Dictionary<string, string> _values;

    private BenchmarkOptions(Dictionary<string, string> values) => _values = values;

    public static BenchmarkOptions Parse(IEnumerable<string> args)
    {
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        string? key = null;
        foreach (var arg in args)
        {
            if (arg.StartsWith("--", StringComparison.Ordinal))
            {
                if (key is not null)
                {
                    values[key] = "true";
                }

                key = arg[2..];
            }
            else if (key is not null)
            {
                values[key] = arg;
                key = null;
            }
        }

        if (key is not null)
        {
            values[key] = "true";
        }

        return new BenchmarkOptions(values);
    }

    public int Int(string key, int defaultValue) =>
        _values.TryGetValue(key, out var text) ? int.Parse(text, CultureInfo.InvariantCulture) : defaultValue;

    public double Double(string key, double defaultValue) =>
        _values.TryGetValue(key, out var text) ? double.Parse(text, CultureInfo.InvariantCulture) : defaultValue;

    public string String(string key, string defaultValue) => _values.GetValueOrDefault(key, defaultValue);

    public bool Flag(string key) => _values.TryGetValue(key, out var text) && text != "false";
}
