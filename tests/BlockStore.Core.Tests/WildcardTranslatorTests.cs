using System.Text.RegularExpressions;
using BlockStore.Core;
using Xunit;

namespace BlockStore.Core.Tests;

/// <summary>
/// PowerShell wildcards for PostgreSQL. The regular expressions are checked by matching with .NET's
/// Regex, whose syntax agrees with PostgreSQL's ARE for what the translator emits (anchors, '.',
/// '.*', bracket sets with backslash escapes); the data path runs them in PostgreSQL (Pester NameWildcards).
/// </summary>
public sealed class WildcardTranslatorTests
{
    private static readonly string[] Names = ["v1", "v2", "v3", "V1", "va", "v12", "w1", "v[1]", "v*", "a.b", "a_b", "a%b", "v-1", "v]"];

    private static string[] Matches(string pattern)
    {
        var regex = new Regex(WildcardTranslator.ToRegex(pattern), RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);
        return Names.Where(n => regex.IsMatch(n)).ToArray();
    }

    [Theory]
    [InlineData("v[12]", new[] { "v1", "v2", "V1" })]
    [InlineData("v[1-3]", new[] { "v1", "v2", "v3", "V1" })]
    [InlineData("v[a1]", new[] { "v1", "V1", "va" })]
    [InlineData("[vw]1", new[] { "v1", "V1", "w1" })]
    [InlineData("v[12]*", new[] { "v1", "v2", "V1", "v12" })]
    [InlineData("v`[1`]", new[] { "v[1]" })]
    [InlineData("v`*", new[] { "v*" })]
    [InlineData("v[`]]", new[] { "v]" })]
    [InlineData("v[-]1", new[] { "v-1" })]
    [InlineData("a.b`?", new string[0])]
    [InlineData("a[._]b", new[] { "a.b", "a_b" })]
    [InlineData("?`%?", new[] { "a%b" })]
    public void Sets_ranges_and_escapes_match_what_PowerShell_matches(string pattern, string[] expected)
    {
        Assert.Equal(expected, Matches(pattern));
    }

    [Fact]
    public void Regex_is_anchored_so_a_set_does_not_match_inside_a_longer_name()
    {
        Assert.DoesNotContain("v12", Matches("v[12]"));
        Assert.StartsWith("^", WildcardTranslator.ToRegex("v[12]"));
        Assert.EndsWith("$", WildcardTranslator.ToRegex("v[12]"));
    }

    [Theory]
    [InlineData("v[12")]
    [InlineData("v[]")]
    [InlineData("v[3-1]")]
    [InlineData("[")]
    public void Malformed_patterns_are_refused_with_their_ErrorId(string pattern)
    {
        var e = Assert.Throws<BlockStoreException>(() => WildcardTranslator.Validate(pattern));
        Assert.Equal(ErrorIds.InvalidWildcardPattern, e.ErrorId);
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Contains(pattern, e.Message);
    }

    [Theory]
    [InlineData("v*", "v%")]
    [InlineData("v?", "v_")]
    [InlineData("a_b%", "a\\_b\\%")]
    [InlineData("a\\b", "a\\\\b")]
    public void Star_and_question_mark_stay_LIKE_patterns(string pattern, string like)
    {
        Assert.False(WildcardTranslator.NeedsRegex(pattern));
        Assert.Equal(like, WildcardTranslator.ToLike(pattern));
    }

    [Theory]
    [InlineData("v[12]")]
    [InlineData("v`*")]
    public void Sets_and_escapes_need_a_regular_expression(string pattern) =>
        Assert.True(WildcardTranslator.NeedsRegex(pattern));

    [Theory]
    [InlineData("v`1", "v1")]
    [InlineData("`v`[1`]", "v[1]")]
    [InlineData("v1`", "v1`")]
    public void Unescape_gives_the_name_a_pattern_without_wildcards_names(string pattern, string name) =>
        Assert.Equal(name, WildcardTranslator.Unescape(pattern));

    [Fact]
    public void Validate_accepts_plain_names_and_star_patterns() =>
        WildcardTranslator.Validate("vol-*-x?");
}
