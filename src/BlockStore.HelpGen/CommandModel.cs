namespace BlockStore.HelpGen;

/// <summary>One exported cmdlet as PowerShell will bind it (read from the built assembly).</summary>
public sealed record CommandModel(
    string Name,
    string DefaultParameterSet,
    bool SupportsShouldProcess,
    IReadOnlyList<string> ParameterSets,
    IReadOnlyList<ParameterModel> Parameters,
    IReadOnlyList<string> OutputTypes)
{
    public string Verb => Name[..Name.IndexOf('-')];
    public string Noun => Name[(Name.IndexOf('-') + 1)..];

    /// <summary>True when the cmdlet declares no parameter set of its own.</summary>
    public bool HasOnlyDefaultSet => ParameterSets.Count == 1 && ParameterSets[0] == ParameterSetModel.AllSets;
}

/// <summary>A parameter with its per-set binding metadata.</summary>
public sealed record ParameterModel(
    string Name,
    string TypeName,
    bool IsSwitch,
    IReadOnlyList<string> Aliases,
    bool SupportsWildcards,
    string? DefaultValue,
    IReadOnlyList<ParameterSetModel> Sets,
    // Added by PowerShell, not declared by the cmdlet: -WhatIf/-Confirm (ShouldProcess), -First/-Skip/-IncludeTotalCount (paging).
    bool IsEngineParameter = false)
{
    public ParameterSetModel? In(string set) =>
        Sets.FirstOrDefault(s => s.Name == set) ?? Sets.FirstOrDefault(s => s.Name == ParameterSetModel.AllSets);
}

/// <summary>How a parameter binds in one parameter set.</summary>
public sealed record ParameterSetModel(string Name, bool Mandatory, int? Position, bool ByValue, bool ByPropertyName)
{
    public const string AllSets = "__AllParameterSets";

    /// <summary>The "Accept pipeline input" text platyPS and Get-Help use.</summary>
    public string PipelineInput => (ByValue, ByPropertyName) switch
    {
        (true, true) => "True (ByPropertyName, ByValue)",
        (true, false) => "True (ByValue)",
        (false, true) => "True (ByPropertyName)",
        _ => "False",
    };

    public string PositionText => Position?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "Named";
}
