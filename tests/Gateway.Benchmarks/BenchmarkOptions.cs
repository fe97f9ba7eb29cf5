using System.Globalization;

namespace Gateway.Benchmarks;

/// <summary>"--key value" pairs from the command line, with typed defaults.</summary>
public sealed class BenchmarkOptions
{
    private readonly Dictionary<string, string> _values;
    private readonly Dictionary<string, List<string>> _all;

    private BenchmarkOptions(Dictionary<string, string> values, Dictionary<string, List<string>> all)
    {
        _values = values;
        _all = all;
    }

    public static BenchmarkOptions Parse(IEnumerable<string> args)
    {
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var all = new Dictionary<string, List<string>>(StringComparer.OrdinalIgnoreCase);
        void Set(string name, string value)
        {
            values[name] = value;
            if (!all.TryGetValue(name, out var list))
            {
                all[name] = list = [];
            }

            list.Add(value);
        }

        string? key = null;
        foreach (var arg in args)
        {
            if (arg.StartsWith("--", StringComparison.Ordinal))
            {
                if (key is not null)
                {
                    Set(key, "true");
                }

                key = arg[2..];
            }
            else if (key is not null)
            {
                Set(key, arg);
                key = null;
            }
        }

        if (key is not null)
        {
            Set(key, "true");
        }

        return new BenchmarkOptions(values, all);
    }

    public int Int(string key, int defaultValue) =>
        _values.TryGetValue(key, out var text) ? int.Parse(text, CultureInfo.InvariantCulture) : defaultValue;

    public double Double(string key, double defaultValue) =>
        _values.TryGetValue(key, out var text) ? double.Parse(text, CultureInfo.InvariantCulture) : defaultValue;

    public string String(string key, string defaultValue) => _values.GetValueOrDefault(key, defaultValue);

    public bool Flag(string key) => _values.TryGetValue(key, out var text) && text != "false";

    /// <summary>A boolean option with a default: <c>--key</c> or <c>--key true</c> sets it, <c>--key false</c> clears it.</summary>
    public bool Flag(string key, bool defaultValue) => _values.TryGetValue(key, out var text) ? text != "false" : defaultValue;

    public bool Has(string key) => _values.ContainsKey(key);

    /// <summary>Every value given for a repeatable option (e.g. <c>--gateway-env A=1 --gateway-env B=2</c>), in order.</summary>
    public IReadOnlyList<string> All(string key) => _all.TryGetValue(key, out var list) ? list : [];

    /// <summary>
    /// The <c>Key=Value</c> pairs given for a repeatable option (e.g. <c>--gateway-env</c>), in order.
    /// </summary>
    /// <exception cref="ArgumentException">A value without a key and an <c>=</c>.</exception>
    public IEnumerable<(string Key, string Value)> Settings(string key)
    {
        foreach (var setting in All(key))
        {
            var equals = setting.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw new ArgumentException($"--{key} takes Key=Value, not '{setting}'");
            }

            yield return (setting[..equals], setting[(equals + 1)..]);
        }
    }

    /// <summary>The options as given, for the report (values of repeatable options joined).</summary>
    public IReadOnlyDictionary<string, string> Given() =>
        _all.ToDictionary(p => p.Key, p => string.Join(' ', p.Value), StringComparer.OrdinalIgnoreCase);
}
