namespace BlockStore.HelpGen;

/// <summary>What docs/Verb-Noun.md says about a cmdlet (platyPS markdown layout).</summary>
public sealed class CommandDoc
{
    public required string Path { get; init; }
    public string Title { get; set; } = "";
    public string Synopsis { get; set; } = "";
    public List<(string Heading, string Code)> Syntax { get; } = [];
    public string Description { get; set; } = "";
    public List<ExampleDoc> Examples { get; } = [];
    public List<ParameterDoc> Parameters { get; } = [];
    public bool HasCommonParameters { get; set; }
    public List<TypeDoc> Inputs { get; } = [];
    public List<TypeDoc> Outputs { get; } = [];
    public string Notes { get; set; } = "";
    public List<LinkDoc> RelatedLinks { get; } = [];
    public List<string> Sections { get; } = [];
}

public sealed record ExampleDoc(string Title, string Code, string Remarks);

public sealed class ParameterDoc
{
    public required string Name { get; init; }
    public string Description { get; set; } = "";
    /// <summary>The ```yaml blocks: one per group of parameter sets with the same binding.</summary>
    public List<Dictionary<string, string>> Yaml { get; } = [];
}

public sealed record TypeDoc(string TypeName, string Description);

public sealed record LinkDoc(string Text, string Uri);
