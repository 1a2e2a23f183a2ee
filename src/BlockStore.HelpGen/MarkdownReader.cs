using System.Text;
using System.Text.RegularExpressions;

namespace BlockStore.HelpGen;

/// <summary>
/// Parses the platyPS markdown layout: "# Verb-Noun", "## SECTION", "### sub-heading", fenced
/// code blocks. Only the shape platyPS writes is understood; anything else is left to the checks.
/// </summary>
public static partial class MarkdownReader
{
    [GeneratedRegex(@"^\[(?<text>[^\]]+)\]\((?<uri>[^)]*)\)\s*$")]
    private static partial Regex LinkPattern();

    private sealed record Block(string? Heading, List<string> Lines);

    public static CommandDoc ReadCommand(string path)
    {
        var doc = new CommandDoc { Path = path };
        var lines = StripFrontMatter(File.ReadAllLines(path));
        string? section = null;
        var body = new List<string>();
        var sections = new List<(string Name, List<string> Body)>();
        foreach (var (line, inFence) in FenceScanner.Scan(lines).Select(l => (l.Line, l.InFence)))
        {
            if (!inFence && line.StartsWith("# ", StringComparison.Ordinal) && doc.Title.Length == 0)
            {
                doc.Title = line[2..].Trim();
                continue;
            }

            if (!inFence && line.StartsWith("## ", StringComparison.Ordinal))
            {
                if (section is not null)
                {
                    sections.Add((section, body));
                }

                section = line[3..].Trim().ToUpperInvariant();
                body = [];
                continue;
            }

            body.Add(line);
        }

        if (section is not null)
        {
            sections.Add((section, body));
        }

        foreach (var (name, sectionBody) in sections)
        {
            doc.Sections.Add(name);
            var blocks = SubBlocks(sectionBody);
            switch (name)
            {
                case "SYNOPSIS":
                    doc.Synopsis = Text(sectionBody);
                    break;
                case "DESCRIPTION":
                    doc.Description = Text(sectionBody);
                    break;
                case "SYNTAX":
                    foreach (var b in blocks.Where(b => b.Heading is not null))
                    {
                        doc.Syntax.Add((b.Heading!, string.Join("\n", Fences(b.Lines).Select(f => f.Code))));
                    }

                    break;
                case "EXAMPLES":
                    foreach (var b in blocks.Where(b => b.Heading is not null))
                    {
                        var fences = Fences(b.Lines);
                        var code = string.Join("\n", fences.Where(f => f.Language is "powershell" or "pwsh" or "ps1" or "").Select(f => f.Code));
                        doc.Examples.Add(new ExampleDoc(b.Heading!, code, Text(b.Lines, keepOtherFences: true)));
                    }

                    break;
                case "PARAMETERS":
                    foreach (var b in blocks.Where(b => b.Heading is not null))
                    {
                        if (b.Heading!.Equals("CommonParameters", StringComparison.OrdinalIgnoreCase))
                        {
                            doc.HasCommonParameters = true;
                            continue;
                        }

                        var p = new ParameterDoc { Name = b.Heading.TrimStart('-').Trim(), Description = Text(b.Lines) };
                        foreach (var f in Fences(b.Lines).Where(f => f.Language == "yaml"))
                        {
                            p.Yaml.Add(ParseYaml(f.Code));
                        }

                        doc.Parameters.Add(p);
                    }

                    break;
                case "INPUTS":
                    doc.Inputs.AddRange(blocks.Where(b => b.Heading is not null).Select(b => new TypeDoc(b.Heading!, Text(b.Lines))));
                    break;
                case "OUTPUTS":
                    doc.Outputs.AddRange(blocks.Where(b => b.Heading is not null).Select(b => new TypeDoc(b.Heading!, Text(b.Lines))));
                    break;
                case "NOTES":
                    doc.Notes = Text(sectionBody);
                    break;
                case "RELATED LINKS":
                    foreach (var l in sectionBody.Select(l => l.Trim()).Where(l => l.Length > 0))
                    {
                        var m = LinkPattern().Match(l);
                        doc.RelatedLinks.Add(m.Success ? new LinkDoc(m.Groups["text"].Value, m.Groups["uri"].Value) : new LinkDoc(l, ""));
                    }

                    break;
            }
        }

        return doc;
    }

    public static IEnumerable<string> StripFrontMatter(string[] lines)
    {
        if (lines.Length > 0 && lines[0].Trim() == "---")
        {
            var end = Array.FindIndex(lines, 1, l => l.Trim() == "---");
            if (end > 0)
            {
                return lines.Skip(end + 1);
            }
        }

        return lines;
    }

    /// <summary>Splits a section at its ### headings (lines before the first have Heading null).</summary>
    private static List<Block> SubBlocks(List<string> lines)
    {
        var blocks = new List<Block> { new(null, []) };
        foreach (var (line, inFence) in FenceScanner.Scan(lines).Select(l => (l.Line, l.InFence)))
        {
            if (!inFence && line.StartsWith("### ", StringComparison.Ordinal))
            {
                blocks.Add(new Block(line[4..].Trim(), []));
                continue;
            }

            blocks[^1].Lines.Add(line);
        }

        return blocks;
    }

    public static List<(string Language, string Code)> Fences(IEnumerable<string> lines)
    {
        var result = new List<(string, string)>();
        var code = new StringBuilder();
        foreach (var l in FenceScanner.Scan(lines))
        {
            switch (l.Role)
            {
                case FenceRole.Open:
                    code.Clear();
                    break;
                case FenceRole.Code:
                    code.Append(l.Line).Append('\n');
                    break;
                case FenceRole.Close:
                    result.Add((l.Language!, code.ToString().TrimEnd('\n')));
                    break;
            }
        }

        return result;
    }

    /// <summary>The prose of a block: text outside code fences (other fences kept when asked), trimmed.</summary>
    public static string Text(IEnumerable<string> lines, bool keepOtherFences = false)
    {
        var sb = new StringBuilder();
        foreach (var l in FenceScanner.Scan(lines).Where(l => l.Role is FenceRole.Prose or FenceRole.Code))
        {
            var isCode = l.Language is "powershell" or "pwsh" or "ps1" or "" or "yaml";
            if (l.Role == FenceRole.Prose || (keepOtherFences && !isCode))
            {
                sb.Append(l.Line).Append('\n');
            }
        }

        return sb.ToString().Trim();
    }

    public static Dictionary<string, string> ParseYaml(string yaml)
    {
        var d = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in yaml.Split('\n'))
        {
            var i = line.IndexOf(':');
            if (i > 0)
            {
                d[line[..i].Trim()] = line[(i + 1)..].Trim();
            }
        }

        return d;
    }
}
