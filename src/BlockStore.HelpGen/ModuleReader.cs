using System.Collections;
using System.Management.Automation;
using System.Reflection;
using System.Runtime.Loader;
using System.Text.RegularExpressions;

namespace BlockStore.HelpGen;

/// <summary>
/// Reads the laid-out module: the exported cmdlet names from the manifest and their metadata
/// from the cmdlet assembly, through System.Management.Automation's CommandMetadata (the same
/// code PowerShell binds with), so the help cannot disagree with what PowerShell does.
/// </summary>
public sealed partial class ModuleReader(string moduleDirectory)
{
    [GeneratedRegex(@"CmdletsToExport\s*=\s*@\((?<list>[^)]*)\)", RegexOptions.Singleline)]
    private static partial Regex CmdletsToExportPattern();

    [GeneratedRegex(@"RootModule\s*=\s*'(?<file>[^']+)'")]
    private static partial Regex RootModulePattern();

    [GeneratedRegex(@"'(?<name>[^']*)'|""(?<name>[^""]*)""")]
    private static partial Regex QuotedPattern();

    public string Manifest => Path.Combine(moduleDirectory, "BlockStore.psd1");

    /// <summary>The names in CmdletsToExport (a wildcard is reported by the checks).</summary>
    public List<string> ExportedCmdletNames()
    {
        var text = File.ReadAllText(Manifest);
        var m = CmdletsToExportPattern().Match(text);
        if (!m.Success)
        {
            throw new InvalidOperationException($"{Manifest} has no CmdletsToExport = @(...) list.");
        }

        return QuotedPattern().Matches(m.Groups["list"].Value).Select(q => q.Groups["name"].Value).ToList();
    }

    public string RootAssemblyFile()
    {
        var m = RootModulePattern().Match(File.ReadAllText(Manifest));
        return m.Success ? m.Groups["file"].Value : "BlockStore.Commands.dll";
    }

    /// <summary>Loads the cmdlet assembly; its own dependencies come from the module folder.</summary>
    public Assembly LoadCmdletAssembly()
    {
        AssemblyLoadContext.Default.Resolving += (context, name) =>
        {
            foreach (var dir in new[] { moduleDirectory, Path.Combine(moduleDirectory, "Dependencies") })
            {
                var path = Path.Combine(dir, name.Name + ".dll");
                if (File.Exists(path))
                {
                    return context.LoadFromAssemblyPath(path);
                }
            }

            return null;
        };
        return AssemblyLoadContext.Default.LoadFromAssemblyPath(Path.GetFullPath(Path.Combine(moduleDirectory, RootAssemblyFile())));
    }

    /// <summary>Every cmdlet class in the assembly, by cmdlet name.</summary>
    public static Dictionary<string, Type> CmdletTypes(Assembly assembly) =>
        assembly.GetTypes()
            .Where(t => !t.IsAbstract && t.GetCustomAttribute<CmdletAttribute>() is not null)
            .ToDictionary(t => { var a = t.GetCustomAttribute<CmdletAttribute>()!; return $"{a.VerbName}-{a.NounName}"; },
                StringComparer.OrdinalIgnoreCase);

    public static CommandModel Describe(string name, Type type)
    {
        var metadata = new CommandMetadata(type);
        var instance = Activator.CreateInstance(type);
        var parameters = new List<ParameterModel>();
        foreach (var p in metadata.Parameters.Values)
        {
            var property = type.GetProperty(p.Name)!;
            var sets = p.ParameterSets
                .Select(kv => new ParameterSetModel(kv.Key, kv.Value.IsMandatory,
                    kv.Value.Position == int.MinValue ? null : kv.Value.Position,
                    kv.Value.ValueFromPipeline, kv.Value.ValueFromPipelineByPropertyName))
                .OrderBy(s => s.Name, StringComparer.Ordinal)
                .ToList();
            parameters.Add(new ParameterModel(
                p.Name,
                TypeName(p.ParameterType),
                p.SwitchParameter,
                p.Aliases.ToList(),
                property.GetCustomAttribute<SupportsWildcardsAttribute>() is not null,
                DefaultValue(property.GetValue(instance)),
                sets));
        }

        if (metadata.SupportsShouldProcess)
        {
            var all = new[] { new ParameterSetModel(ParameterSetModel.AllSets, false, null, false, false) };
            parameters.Add(new ParameterModel("WhatIf", "SwitchParameter", true, ["wi"], false, null, all, true));
            parameters.Add(new ParameterModel("Confirm", "SwitchParameter", true, ["cf"], false, null, all, true));
        }

        if (metadata.SupportsPaging)
        {
            // What PowerShell adds to a cmdlet with SupportsPaging, in the order Get-Command -Syntax shows them.
            var all = new[] { new ParameterSetModel(ParameterSetModel.AllSets, false, null, false, false) };
            parameters.Add(new ParameterModel("IncludeTotalCount", "SwitchParameter", true, [], false, null, all, true));
            parameters.Add(new ParameterModel("Skip", "UInt64", false, [], false, "0", all, true));
            parameters.Add(new ParameterModel("First", "UInt64", false, [], false, null, all, true));
        }

        var setNames = parameters.SelectMany(p => p.Sets.Select(s => s.Name))
            .Where(s => s != ParameterSetModel.AllSets).Distinct().Order(StringComparer.Ordinal).ToList();
        if (setNames.Count == 0)
        {
            setNames.Add(ParameterSetModel.AllSets);
        }

        var defaultSet = string.IsNullOrEmpty(metadata.DefaultParameterSetName) ? setNames[0] : metadata.DefaultParameterSetName;
        // The default set first, as Get-Help and platyPS list it.
        setNames = setNames.OrderBy(s => s == defaultSet ? 0 : 1).ThenBy(s => s, StringComparer.Ordinal).ToList();
        var outputs = type.GetCustomAttributes<OutputTypeAttribute>()
            .SelectMany(o => o.Type).Select(t => t.Type?.FullName ?? t.Name).Distinct().ToList();
        return new CommandModel(name, defaultSet, metadata.SupportsShouldProcess, setNames, parameters, outputs);
    }

    /// <summary>Short type names, as platyPS writes them: String[], Int32, Guid, SwitchParameter.</summary>
    public static string TypeName(Type t)
    {
        if (Nullable.GetUnderlyingType(t) is { } inner)
        {
            return TypeName(inner);
        }

        return t.IsArray ? TypeName(t.GetElementType()!) + "[]" : t.Name;
    }

    private static string? DefaultValue(object? value) => value switch
    {
        null => null,
        SwitchParameter => null,
        string s when s.Length == 0 => null,
        string s => s,
        IEnumerable e when !e.Cast<object>().Any() => null,
        IEnumerable e => string.Join(", ", e.Cast<object>()),
        IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => value.ToString(),
    };
}
