using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace BlockStore.HelpGen;

/// <summary>
/// Writes MAML as platyPS's New-ExternalHelp does: one command:command per cmdlet with details,
/// description, syntax items per parameter set, parameters, input and return types, notes,
/// examples and related links. Get-Help reads it from en-US/&lt;assembly&gt;-Help.xml.
/// </summary>
public static partial class MamlWriter
{
    private static readonly XNamespace Msh = "http://msh";
    private static readonly XNamespace Maml = "http://schemas.microsoft.com/maml/2004/10";
    private static readonly XNamespace Command = "http://schemas.microsoft.com/maml/dev/command/2004/10";
    private static readonly XNamespace Dev = "http://schemas.microsoft.com/maml/dev/2004/10";

    [GeneratedRegex(@"\[(?<text>[^\]]+)\]\((?<uri>[^)]+)\)")]
    private static partial Regex InlineLink();

    public static XDocument Write(IEnumerable<(CommandModel Command, CommandDoc Doc)> commands)
    {
        var root = new XElement(Msh + "helpItems", new XAttribute("schema", "maml"));
        foreach (var (c, d) in commands)
        {
            root.Add(CommandElement(c, d));
        }

        return new XDocument(new XDeclaration("1.0", "utf-8", null), root);
    }

    private static XElement CommandElement(CommandModel c, CommandDoc d) =>
        new(Command + "command",
            new XAttribute(XNamespace.Xmlns + "maml", Maml),
            new XAttribute(XNamespace.Xmlns + "command", Command),
            new XAttribute(XNamespace.Xmlns + "dev", Dev),
            new XElement(Command + "details",
                new XElement(Command + "name", c.Name),
                new XElement(Command + "verb", c.Verb),
                new XElement(Command + "noun", c.Noun),
                Description(d.Synopsis)),
            Description(d.Description),
            new XElement(Command + "syntax", c.ParameterSets.Select(set =>
                new XElement(Command + "syntaxItem",
                    new XElement(Maml + "name", c.Name),
                    SyntaxRenderer.InSet(c, set).Select(x => Parameter(c, x.P, x.S, DescriptionOf(d, x.P), inSyntax: true))))),
            new XElement(Command + "parameters", c.Parameters.OrderBy(p => p.Name, StringComparer.OrdinalIgnoreCase).Select(p =>
                Parameter(c, p, p.In(c.DefaultParameterSet) ?? p.Sets[0], DescriptionOf(d, p), inSyntax: false))),
            new XElement(Command + "inputTypes", d.Inputs.Select(t =>
                new XElement(Command + "inputType", TypeElement(t.TypeName), Description(t.Description)))),
            new XElement(Command + "returnValues", d.Outputs.Select(t =>
                new XElement(Command + "returnValue", TypeElement(t.TypeName), Description(t.Description)))),
            string.IsNullOrWhiteSpace(d.Notes) ? null : new XElement(Maml + "alertSet", new XElement(Maml + "alert", Paragraphs(d.Notes))),
            new XElement(Command + "examples", d.Examples.Select(e =>
                new XElement(Command + "example",
                    new XElement(Maml + "title", $"-------------------------- {e.Title} --------------------------"),
                    new XElement(Dev + "code", e.Code),
                    new XElement(Dev + "remarks", Paragraphs(e.Remarks))))),
            new XElement(Command + "relatedLinks", d.RelatedLinks.Select(l =>
                new XElement(Maml + "navigationLink",
                    new XElement(Maml + "linkText", l.Text),
                    new XElement(Maml + "uri", l.Uri.StartsWith("http", StringComparison.OrdinalIgnoreCase) ? l.Uri : "")))));

    private static string DescriptionOf(CommandDoc d, ParameterModel p) =>
        d.Parameters.FirstOrDefault(x => string.Equals(x.Name, p.Name, StringComparison.OrdinalIgnoreCase))?.Description
        ?? p.Name switch
        {
            "WhatIf" => "Shows what would happen if the cmdlet runs. The cmdlet is not run.",
            "Confirm" => "Prompts you for confirmation before running the cmdlet.",
            _ => "",
        };

    private static XElement Parameter(CommandModel c, ParameterModel p, ParameterSetModel s, string description, bool inSyntax)
    {
        var yaml = SyntaxRenderer.Yaml(c, p).First();
        var e = new XElement(Command + "parameter",
            new XAttribute("required", s.Mandatory ? "true" : "false"),
            new XAttribute("variableLength", p.TypeName.EndsWith("[]", StringComparison.Ordinal) ? "true" : "false"),
            new XAttribute("globbing", p.SupportsWildcards ? "true" : "false"),
            new XAttribute("pipelineInput", s.PipelineInput),
            new XAttribute("position", s.Position?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "named"),
            new XAttribute("aliases", p.Aliases.Count == 0 ? "none" : string.Join(", ", p.Aliases)),
            new XElement(Maml + "name", p.Name),
            Description(description));
        if (!(inSyntax && p.IsSwitch))
        {
            e.Add(new XElement(Command + "parameterValue",
                new XAttribute("required", p.IsSwitch ? "false" : "true"),
                new XAttribute("variableLength", "false"), p.TypeName));
        }

        e.Add(TypeElement(p.TypeName), new XElement(Dev + "defaultValue", yaml["Default value"]));
        return e;
    }

    private static XElement TypeElement(string name) =>
        new(Dev + "type", new XElement(Maml + "name", name), new XElement(Maml + "uri"));

    private static XElement Description(string text) => new(Maml + "description", Paragraphs(text));

    /// <summary>Markdown prose to maml:para elements: one per paragraph, links as "text (uri)".</summary>
    public static IEnumerable<XElement> Paragraphs(string text) =>
        Regex.Split(text.Replace("\r", "", StringComparison.Ordinal).Trim(), @"\n\s*\n")
            .Where(p => p.Trim().Length > 0)
            .Select(p => new XElement(Maml + "para", Plain(Unwrap(p.Trim()))));

    /// <summary>Markdown soft line breaks become spaces (Get-Help wraps itself); list items keep their own line.</summary>
    private static string Unwrap(string paragraph) =>
        Regex.Replace(paragraph, @"\n(?!\s*(- |\d+\. ))\s*", " ");

    public static string Plain(string markdown) =>
        InlineLink().Replace(markdown, m => m.Groups["uri"].Value.StartsWith("http", StringComparison.OrdinalIgnoreCase)
            ? $"{m.Groups["text"].Value} ({m.Groups["uri"].Value})"
            : m.Groups["text"].Value);
}
