using System.Text;

namespace BlockStore.HelpGen;

/// <summary>
/// Writes docs/Verb-Noun.md in platyPS's layout: --scaffold for a new cmdlet ({{ placeholders }}
/// the build refuses until they are replaced), --update to refresh SYNTAX and yaml from the code
/// while keeping the prose.
/// </summary>
public static class MarkdownWriter
{
    private const string CommonParameters =
        "This cmdlet supports the common parameters: -Debug, -ErrorAction, -ErrorVariable, -InformationAction, -InformationVariable, " +
        "-OutVariable, -OutBuffer, -PipelineVariable, -ProgressAction, -Verbose, -WarningAction, and -WarningVariable. " +
        "For more information, see [about_CommonParameters](http://go.microsoft.com/fwlink/?LinkID=113216).";

    public static string Render(CommandModel c, CommandDoc? doc)
    {
        string Or(string? text, string placeholder) => string.IsNullOrWhiteSpace(text) ? $"{{{{ {placeholder} }}}}" : text.Trim();

        var sb = new StringBuilder();
        sb.Append("---\nexternal help file: BlockStore.Commands.dll-Help.xml\nModule Name: BlockStore\nonline version:\nschema: 2.0.0\n---\n\n");
        sb.Append($"# {c.Name}\n\n## SYNOPSIS\n{Or(doc?.Synopsis, "One sentence: what the cmdlet does")}\n\n## SYNTAX\n\n");
        foreach (var set in c.ParameterSets)
        {
            sb.Append($"### {SyntaxRenderer.SetHeading(c, set)}\n```\n{SyntaxRenderer.SyntaxLine(c, set)}\n```\n\n");
        }

        sb.Append($"## DESCRIPTION\n{Or(doc?.Description, "What it does, when to use it, what it returns, how it fails")}\n\n## EXAMPLES\n\n");
        var examples = doc?.Examples.Count > 0
            ? doc.Examples
            : [new ExampleDoc("Example 1: {{ title }}", $"{c.Name} {{{{ arguments }}}}", "{{ What it does and what it prints }}"),
               new ExampleDoc("Example 2: {{ title }}", $"{c.Name} {{{{ arguments }}}}", "{{ What it does and what it prints }}")];
        foreach (var e in examples)
        {
            sb.Append($"### {e.Title}\n```powershell\n{e.Code}\n```\n\n{e.Remarks.Trim()}\n\n");
        }

        sb.Append("## PARAMETERS\n\n");
        foreach (var p in c.Parameters.OrderBy(p => p.Name, StringComparer.OrdinalIgnoreCase))
        {
            var pd = doc?.Parameters.FirstOrDefault(d => string.Equals(d.Name, p.Name, StringComparison.OrdinalIgnoreCase));
            var text = !string.IsNullOrWhiteSpace(pd?.Description) ? pd.Description : (p.Name switch
            {
                "WhatIf" => "Shows what would happen if the cmdlet runs. The cmdlet is not run.",
                "Confirm" => "Prompts you for confirmation before running the cmdlet.",
                _ => null,
            });
            sb.Append($"### -{p.Name}\n{Or(text, "What the parameter means, its unit and range")}\n\n");
            foreach (var y in SyntaxRenderer.Yaml(c, p))
            {
                // The author's default-value wording is kept.
                if (pd?.Yaml.FirstOrDefault()?.GetValueOrDefault("Default value") is { Length: > 0 } mine)
                {
                    y["Default value"] = mine;
                }

                sb.Append("```yaml\n").Append(SyntaxRenderer.YamlText(y)).Append("\n```\n\n");
            }
        }

        sb.Append($"### CommonParameters\n{CommonParameters}\n\n## INPUTS\n\n");
        foreach (var t in doc?.Inputs.Count > 0 ? doc.Inputs : [new TypeDoc("None", "{{ What can be piped in, or: You cannot pipe objects to this cmdlet. }}")])
        {
            sb.Append($"### {t.TypeName}\n{t.Description.Trim()}\n\n");
        }

        sb.Append("## OUTPUTS\n\n");
        var outputs = doc?.Outputs.ToList() ?? [];
        foreach (var o in c.OutputTypes.Where(o => outputs.All(d => d.TypeName != o)))
        {
            outputs.Add(new TypeDoc(o, "{{ When it is written }}"));
        }

        foreach (var t in outputs)
        {
            sb.Append($"### {t.TypeName}\n{t.Description.Trim()}\n\n");
        }

        sb.Append($"## NOTES\n{doc?.Notes.Trim() ?? ""}\n\n## RELATED LINKS\n\n");
        var links = doc?.RelatedLinks.Count > 0 ? doc.RelatedLinks : [new LinkDoc("about_BlockStore", "about_BlockStore.md")];
        foreach (var l in links)
        {
            sb.Append(l.Uri.Length > 0 ? $"[{l.Text}]({l.Uri})\n" : $"{l.Text}\n");
        }

        return sb.ToString().Replace("\n\n\n", "\n\n", StringComparison.Ordinal);
    }
}
