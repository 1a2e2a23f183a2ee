using System.Management.Automation.Language;

namespace BlockStore.HelpGen;

/// <summary>
/// What makes the build fail: a cmdlet or parameter without documentation, documentation of a
/// parameter that does not exist, SYNTAX or yaml blocks that disagree with the code, too few or
/// unparsable examples, placeholders left from --scaffold.
/// </summary>
public static class DocChecker
{
    public const string Placeholder = "{{";

    public static List<string> Check(CommandModel c, CommandDoc? doc, string docPath)
    {
        var problems = new List<string>();
        void Problem(string text) => problems.Add($"{docPath}: {text}");

        if (doc is null)
        {
            Problem($"missing: every exported cmdlet needs one. Create it with --scaffold (see docs/README.md).");
            return problems;
        }

        if (!string.Equals(doc.Title, c.Name, StringComparison.Ordinal))
        {
            Problem($"the title is '# {doc.Title}', expected '# {c.Name}'.");
        }

        foreach (var section in new[] { "SYNOPSIS", "SYNTAX", "DESCRIPTION", "EXAMPLES", "PARAMETERS", "INPUTS", "OUTPUTS", "NOTES", "RELATED LINKS" })
        {
            if (!doc.Sections.Contains(section))
            {
                Problem($"has no '## {section}' section.");
            }
        }

        RequireText(doc.Synopsis, "SYNOPSIS", Problem);
        RequireText(doc.Description, "DESCRIPTION", Problem);

        var expectedSyntax = c.ParameterSets.Select(s => (Heading: SyntaxRenderer.SetHeading(c, s), Code: SyntaxRenderer.SyntaxLine(c, s))).ToList();
        var actualSyntax = doc.Syntax.Select(s => (s.Heading, Code: s.Code.Trim())).ToList();
        if (!expectedSyntax.SequenceEqual(actualSyntax))
        {
            Problem("SYNTAX does not match the cmdlet. Expected:\n" +
                string.Join("\n", expectedSyntax.Select(s => $"### {s.Heading}\n```\n{s.Code}\n```")) +
                "\n(--update rewrites SYNTAX and the yaml blocks from the code, keeping your text)");
        }

        if (doc.Examples.Count < 2)
        {
            Problem($"has {doc.Examples.Count} example(s); at least 2 are required.");
        }

        foreach (var e in doc.Examples)
        {
            if (string.IsNullOrWhiteSpace(e.Code))
            {
                Problem($"'{e.Title}' has no ```powershell code block.");
                continue;
            }

            Parser.ParseInput(e.Code, out _, out var errors);
            foreach (var error in errors)
            {
                Problem($"'{e.Title}' does not parse: {error.Message} (line {error.Extent.StartLineNumber}).");
            }

            RequireText(e.Remarks, $"'{e.Title}' (say what it does)", Problem);
        }

        foreach (var p in c.Parameters)
        {
            var pd = doc.Parameters.FirstOrDefault(d => string.Equals(d.Name, p.Name, StringComparison.OrdinalIgnoreCase));
            if (pd is null)
            {
                if (!p.IsEngineParameter)
                {
                    Problem($"parameter -{p.Name} is not documented: add '### -{p.Name}' with a description and its yaml block under PARAMETERS.");
                }

                continue;
            }

            RequireText(pd.Description, $"-{p.Name}", Problem);
            var expected = SyntaxRenderer.Yaml(c, p);
            var same = expected.Select(SyntaxRenderer.Normalize).Order().SequenceEqual(pd.Yaml.Select(SyntaxRenderer.Normalize).Order());
            if (!same)
            {
                Problem($"the yaml of -{p.Name} does not match the cmdlet. Expected:\n" +
                    string.Join("\n", expected.Select(y => "```yaml\n" + SyntaxRenderer.YamlText(y) + "\n```")));
            }
        }

        foreach (var pd in doc.Parameters.Where(d => c.Parameters.All(p => !string.Equals(p.Name, d.Name, StringComparison.OrdinalIgnoreCase))))
        {
            Problem($"documents -{pd.Name}, which {c.Name} does not have.");
        }

        if (!doc.HasCommonParameters)
        {
            Problem("has no '### CommonParameters' paragraph under PARAMETERS.");
        }

        foreach (var output in c.OutputTypes)
        {
            if (!doc.Outputs.Any(o => string.Equals(o.TypeName, output, StringComparison.Ordinal)))
            {
                Problem($"OUTPUTS does not list '### {output}' (from [OutputType]).");
            }
        }

        foreach (var t in doc.Inputs.Concat(doc.Outputs))
        {
            RequireText(t.Description, $"'### {t.TypeName}'", Problem);
        }

        if (doc.RelatedLinks.Count == 0)
        {
            Problem("RELATED LINKS is empty: link at least about_BlockStore and the neighbouring cmdlets.");
        }

        return problems;
    }

    private static void RequireText(string text, string where, Action<string> problem)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            problem($"{where} has no text.");
        }
        else if (text.Contains(Placeholder, StringComparison.Ordinal))
        {
            problem($"{where} still has a {{{{ placeholder }}}} from --scaffold.");
        }
    }
}
