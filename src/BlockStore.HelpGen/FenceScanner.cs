namespace BlockStore.HelpGen;

/// <summary>Where a markdown line sits with respect to ``` code fences.</summary>
public enum FenceRole
{
    /// <summary>Outside any code block.</summary>
    Prose,

    /// <summary>The ``` line that opens a code block.</summary>
    Open,

    /// <summary>A line inside a code block.</summary>
    Code,

    /// <summary>The ``` line that closes a code block.</summary>
    Close,
}

/// <summary>A markdown line, its role, and the language of the code block it opens, closes or sits in (null in prose).</summary>
public readonly record struct FencedLine(string Line, FenceRole Role, string? Language)
{
    /// <summary>A fence line or a code line: never a heading, whatever it starts with.</summary>
    public bool InFence => Role != FenceRole.Prose;
}

/// <summary>
/// The one reader of code fences every part of the help generator uses (command pages, their
/// sections, examples, yaml blocks, about topics): a line whose text starts with ``` (after
/// indentation) opens a block, with the rest of the line as its language (lower case, "" for
/// none), and the next such line closes it, whatever follows its ```.
/// </summary>
public static class FenceScanner
{
    public static IEnumerable<FencedLine> Scan(IEnumerable<string> lines)
    {
        string? language = null;
        foreach (var line in lines)
        {
            var t = line.TrimStart();
            if (t.StartsWith("```", StringComparison.Ordinal))
            {
                if (language is null)
                {
                    language = t[3..].Trim().ToLowerInvariant();
                    yield return new FencedLine(line, FenceRole.Open, language);
                }
                else
                {
                    yield return new FencedLine(line, FenceRole.Close, language);
                    language = null;
                }

                continue;
            }

            yield return language is null ? new FencedLine(line, FenceRole.Prose, null) : new FencedLine(line, FenceRole.Code, language);
        }
    }
}
