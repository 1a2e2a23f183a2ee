using System.Text;

namespace BlockStore.HelpGen;

/// <summary>
/// Turns docs/about_X.md (platyPS about layout: "# about_X", "## SHORT DESCRIPTION",
/// "## LONG DESCRIPTION", further "##"/"###" headings) into the plain-text about_X.help.txt that
/// Get-Help about_X shows: upper-case headings, text indented and wrapped at 80 columns, code
/// blocks and tables kept as they are.
/// </summary>
public static partial class AboutTopicWriter
{
    [System.Text.RegularExpressions.GeneratedRegex(@"^(- |\d+\. )")]
    private static partial System.Text.RegularExpressions.Regex ListItem();

    private const int Width = 80;

    public static string Render(string markdownPath)
    {
        var sb = new StringBuilder();
        var lines = MarkdownReader.StripFrontMatter(File.ReadAllLines(markdownPath)).ToList();
        var paragraph = new List<string>();

        void Flush()
        {
            if (paragraph.Count == 0)
            {
                return;
            }

            foreach (var item in SplitItems(paragraph))
            {
                var marker = ListItem().Match(item);
                Wrap(sb, MamlWriter.Plain(item), "    ", marker.Success ? new string(' ', 4 + marker.Length) : "    ");
            }

            sb.Append('\n');
            paragraph.Clear();
        }

        foreach (var fenced in FenceScanner.Scan(lines))
        {
            var line = fenced.Line.TrimEnd();
            if (fenced.Role is FenceRole.Open or FenceRole.Close)
            {
                Flush();
                if (fenced.Role == FenceRole.Close)
                {
                    sb.Append('\n');
                }

                continue;
            }

            if (fenced.Role == FenceRole.Code)
            {
                sb.Append("        ").Append(line).Append('\n');
            }
            else if (line.StartsWith("# ", StringComparison.Ordinal))
            {
                Flush();
                sb.Append("TOPIC\n    ").Append(line[2..].Trim()).Append("\n\n");
            }
            else if (line.StartsWith("## ", StringComparison.Ordinal))
            {
                Flush();
                sb.Append(line[3..].Trim().ToUpperInvariant()).Append('\n');
            }
            else if (line.StartsWith("### ", StringComparison.Ordinal))
            {
                Flush();
                sb.Append("  ").Append(line[4..].Trim()).Append('\n');
            }
            else if (line.StartsWith('|'))
            {
                Flush();
                sb.Append("    ").Append(line).Append('\n');
            }
            else if (line.Trim().Length == 0)
            {
                Flush();
            }
            else
            {
                paragraph.Add(line.Trim());
            }
        }

        Flush();
        return sb.ToString().TrimEnd('\n') + "\n";
    }

    /// <summary>A paragraph, or the items of a "- " list, each joined into one line.</summary>
    private static IEnumerable<string> SplitItems(List<string> paragraph)
    {
        var items = new List<StringBuilder>();
        foreach (var l in paragraph)
        {
            if (items.Count == 0 || ListItem().IsMatch(l))
            {
                items.Add(new StringBuilder(l));
            }
            else
            {
                items[^1].Append(' ').Append(l);
            }
        }

        return items.Select(i => i.ToString());
    }

    private static void Wrap(StringBuilder sb, string text, string first, string rest)
    {
        var line = new StringBuilder(first);
        var empty = true;
        foreach (var word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!empty && line.Length + 1 + word.Length > Width)
            {
                sb.Append(line).Append('\n');
                line.Clear().Append(rest);
                empty = true;
            }

            line.Append(empty ? "" : " ").Append(word);
            empty = false;
        }

        sb.Append(line).Append('\n');
    }
}
