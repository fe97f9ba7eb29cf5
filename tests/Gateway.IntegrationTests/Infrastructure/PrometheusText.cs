using System.Globalization;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>One sample of the Prometheus text format: <c>name{label="value",...} value [timestamp]</c>.</summary>
public sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

/// <summary>Reads the Prometheus text exposition format (comments skipped, label values unescaped).</summary>
public static class PrometheusText
{
    /// <summary>Every sample in <paramref name="text"/>, in order.</summary>
    public static IReadOnlyList<PrometheusSample> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var samples = new List<PrometheusSample>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            var nameEnd = line.IndexOfAny(['{', ' ']);
            if (nameEnd < 0)
            {
                continue;
            }

            var name = line[..nameEnd];
            var rest = nameEnd;
            if (line[nameEnd] == '{')
            {
                rest = ReadLabels(line, nameEnd + 1, labels);
            }

            var fields = line[rest..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length > 0 && double.TryParse(fields[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                samples.Add(new PrometheusSample(name, labels, value));
            }
        }

        return samples;
    }

    /// <summary>Reads <c>a="x",b="y"}</c> from <paramref name="start"/>; returns the index after the closing brace.</summary>
    private static int ReadLabels(string line, int start, Dictionary<string, string> labels)
    {
        var i = start;
        while (i < line.Length && line[i] != '}')
        {
            var equals = line.IndexOf('=', i);
            var key = line[i..equals].Trim(',', ' ');
            i = equals + 2; // past ="
            var value = new System.Text.StringBuilder();
            while (i < line.Length && line[i] != '"')
            {
                if (line[i] == '\\' && i + 1 < line.Length)
                {
                    i++;
                    value.Append(line[i] == 'n' ? '\n' : line[i]);
                }
                else
                {
                    value.Append(line[i]);
                }

                i++;
            }

            labels[key] = value.ToString();
            i++; // past the closing quote
            if (i < line.Length && line[i] == ',')
            {
                i++;
            }
        }

        return i + 1;
    }
}
