using System.Text;

namespace BlockStore.Core;

/// <summary>
/// PowerShell wildcards (as WildcardPattern reads them: <c>*</c>, <c>?</c>, <c>[abc]</c>, <c>[a-c]</c>,
/// backtick escapes) for PostgreSQL. Patterns with only <c>*</c> and <c>?</c> become LIKE patterns
/// (so the name index can still serve a prefix); a bracket set or an escape needs a regular
/// expression, anchored, for <c>~*</c>. Case-insensitive like PowerShell's own matching (the caller
/// uses ILIKE / ~*). A malformed pattern is refused, never matched as literal text: a silent empty
/// result was the defect this fixes.
/// </summary>
public static class WildcardTranslator
{
    /// <summary>True when the pattern needs <see cref="ToRegex"/> (a set or an escape); LIKE cannot say it.</summary>
    public static bool NeedsRegex(string pattern) => pattern.Contains('[') || pattern.Contains('`');

    /// <summary>A LIKE pattern (escape character backslash) for a pattern without sets or escapes.</summary>
    public static string ToLike(string pattern)
    {
        var sb = new StringBuilder(pattern.Length + 4);
        foreach (var c in pattern)
        {
            sb.Append(c switch
            {
                '*' => "%",
                '?' => "_",
                '%' => "\\%",
                '_' => "\\_",
                '\\' => "\\\\",
                _ => c.ToString(),
            });
        }

        return sb.ToString();
    }

    /// <summary>An anchored PostgreSQL (ARE) regular expression matching what the wildcard matches.</summary>
    /// <exception cref="BlockStoreException">InvalidWildcardPattern: an unclosed or empty set.</exception>
    public static string ToRegex(string pattern)
    {
        var sb = new StringBuilder("^");
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            switch (c)
            {
                case '`' when i + 1 < pattern.Length:
                    AppendLiteral(sb, pattern[++i]);
                    break;
                case '*':
                    sb.Append(".*");
                    break;
                case '?':
                    sb.Append('.');
                    break;
                case '[':
                    i = AppendSet(sb, pattern, i);
                    break;
                default:
                    // A trailing backtick has nothing to escape: WildcardPattern matches it literally.
                    AppendLiteral(sb, c);
                    break;
            }
        }

        return sb.Append('$').ToString();
    }

    /// <summary>
    /// The text a pattern without wildcards names: its escapes removed (WildcardPattern matches
    /// <c>v`1</c> as <c>v1</c>, but its Unescape leaves a backtick before a plain character).
    /// </summary>
    public static string Unescape(string pattern)
    {
        var sb = new StringBuilder(pattern.Length);
        for (var i = 0; i < pattern.Length; i++)
        {
            sb.Append(pattern[i] == '`' && i + 1 < pattern.Length ? pattern[++i] : pattern[i]);
        }

        return sb.ToString();
    }

    /// <summary>Throws InvalidWildcardPattern when the pattern is malformed (checked before anything is read).</summary>
    public static void Validate(string pattern)
    {
        if (NeedsRegex(pattern))
        {
            ToRegex(pattern);
        }
    }

    // [set]: characters and ranges up to the closing ']' (a backtick escapes the next one, ']' too).
    private static int AppendSet(StringBuilder sb, string pattern, int open)
    {
        var members = new StringBuilder();
        var i = open + 1;
        var count = 0;
        for (; i < pattern.Length && pattern[i] != ']'; i++)
        {
            var c = pattern[i];
            if (c == '`' && i + 1 < pattern.Length)
            {
                c = pattern[++i];
            }

            // a-z: a range when the '-' stands between two members.
            if (i + 2 < pattern.Length && pattern[i + 1] == '-' && pattern[i + 2] != ']')
            {
                var to = pattern[i + 2];
                var skip = 2;
                if (to == '`' && i + 3 < pattern.Length)
                {
                    to = pattern[i + 3];
                    skip = 3;
                }

                if (to < c)
                {
                    throw Invalid(pattern, $"the range '{c}-{to}' runs backwards");
                }

                AppendSetMember(members, c);
                members.Append('-');
                AppendSetMember(members, to);
                i += skip;
            }
            else
            {
                AppendSetMember(members, c);
            }

            count++;
        }

        if (i >= pattern.Length)
        {
            throw Invalid(pattern, $"the '[' at position {open + 1} is never closed with ']'");
        }

        if (count == 0)
        {
            throw Invalid(pattern, $"the set '[]' at position {open + 1} is empty");
        }

        sb.Append('[').Append(members).Append(']');
        return i;
    }

    private static void AppendLiteral(StringBuilder sb, char c)
    {
        if (!char.IsLetterOrDigit(c) && c < 128)
        {
            sb.Append('\\');
        }

        sb.Append(c);
    }

    private static void AppendSetMember(StringBuilder sb, char c)
    {
        // Inside an ARE bracket expression a backslash escapes; escape what would change its meaning.
        if (c is '\\' or ']' or '[' or '^' or '-')
        {
            sb.Append('\\');
        }

        sb.Append(c);
    }

    private static BlockStoreException Invalid(string pattern, string why) =>
        new(ErrorIds.InvalidWildcardPattern, ErrorKind.InvalidArgument,
            $"'{pattern}' is not a valid wildcard pattern: {why}. Use `[ and `] for literal brackets.");
}
