using System.Text;

namespace BlockStore.HelpGen;

/// <summary>
/// Renders what platyPS derives from a cmdlet's metadata: the SYNTAX lines and each parameter's
/// yaml block. The docs must carry exactly these, so they never drift from the code.
/// </summary>
public static class SyntaxRenderer
{
    public static string SetHeading(CommandModel c, string set) =>
        set == c.DefaultParameterSet && !c.HasOnlyDefaultSet ? $"{set} (Default)" : set;

    /// <summary>Parameters of one set in the order Get-Command -Syntax shows them.</summary>
    public static List<(ParameterModel P, ParameterSetModel S)> InSet(CommandModel c, string set) =>
        c.Parameters.Select((p, i) => (P: p, S: p.In(set), I: i))
            .Where(x => x.S is not null)
            .OrderBy(x => x.P.IsEngineParameter ? 3 : x.S!.Position is not null ? 0 : x.S!.Mandatory ? 1 : 2)
            .ThenBy(x => x.S!.Position ?? 0)
            .ThenBy(x => x.I)
            .Select(x => (x.P, x.S!))
            .ToList();

    public static string SyntaxLine(CommandModel c, string set)
    {
        var sb = new StringBuilder(c.Name);
        foreach (var (p, s) in InSet(c, set))
        {
            var name = s.Position is null ? $"-{p.Name}" : $"[-{p.Name}]";
            var item = p.IsSwitch ? $"-{p.Name}" : $"{name} <{p.TypeName}>";
            sb.Append(' ').Append(s.Mandatory ? item : $"[{item}]");
        }

        return sb.Append(" [<CommonParameters>]").ToString();
    }

    /// <summary>One yaml block per group of sets in which the parameter binds the same way.</summary>
    public static List<Dictionary<string, string>> Yaml(CommandModel c, ParameterModel p)
    {
        var blocks = new List<Dictionary<string, string>>();
        foreach (var group in p.Sets.GroupBy(s => (s.Mandatory, s.Position, s.PipelineInput)))
        {
            var sets = group.Any(s => s.Name == ParameterSetModel.AllSets) || group.Count() == c.ParameterSets.Count
                ? "(All)"
                : string.Join(", ", group.Select(s => s.Name).Order(StringComparer.Ordinal));
            blocks.Add(new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
            {
                ["Type"] = p.TypeName,
                ["Parameter Sets"] = sets,
                ["Aliases"] = string.Join(", ", p.Aliases),
                ["Required"] = group.Key.Mandatory ? "True" : "False",
                ["Position"] = group.First().PositionText,
                ["Default value"] = group.Key.Mandatory ? "None" : p.DefaultValue ?? (p.IsSwitch ? "False" : "None"),
                ["Accept pipeline input"] = group.Key.PipelineInput,
                ["Accept wildcard characters"] = p.SupportsWildcards ? "True" : "False",
            });
        }

        return blocks;
    }

    public static readonly string[] YamlKeys =
        ["Type", "Parameter Sets", "Aliases", "Required", "Position", "Default value", "Accept pipeline input", "Accept wildcard characters"];

    /// <summary>The keys that must match the code (the default value is the author's wording).</summary>
    public static readonly string[] CheckedYamlKeys =
        ["Type", "Parameter Sets", "Aliases", "Required", "Position", "Accept pipeline input", "Accept wildcard characters"];

    public static string YamlText(Dictionary<string, string> y)
    {
        var sb = new StringBuilder();
        foreach (var key in YamlKeys)
        {
            if (key == "Required")
            {
                sb.Append('\n');
            }

            var value = y.GetValueOrDefault(key) ?? "";
            sb.Append(key).Append(':').Append(value.Length > 0 ? " " + value : "").Append('\n');
        }

        return sb.ToString().TrimEnd('\n');
    }

    /// <summary>A comparable form of a yaml block: only the checked keys, normalised.</summary>
    public static string Normalize(Dictionary<string, string> y) =>
        string.Join("|", CheckedYamlKeys.Select(k =>
        {
            var v = (y.GetValueOrDefault(k) ?? "").Trim();
            if (v.Equals("None", StringComparison.OrdinalIgnoreCase) && k == "Aliases")
            {
                v = "";
            }

            if (k is "Parameter Sets" or "Aliases")
            {
                v = string.Join(",", v.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.OrdinalIgnoreCase));
            }

            return $"{k}={v.ToLowerInvariant()}";
        }));
}
