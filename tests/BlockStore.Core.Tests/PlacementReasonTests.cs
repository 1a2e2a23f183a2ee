using BlockStore.Core;

namespace BlockStore.Core.Tests;

/// <summary>
/// A failed placement's reason at scale: every host by name up to PlacementResult.HostsNamedInFull,
/// beyond that a count per class with the first few hosts of each, so that a request refused by
/// 1,000 hosts does not carry 1,000 lines into the volume, its operation and its event.
/// </summary>
public sealed class PlacementReasonTests
{
    private static HostCandidate Host(string name, decimal total, string zone = "nova") => new()
    {
        Host = name,
        Zone = zone,
        TotalGiB = total,
        ReportedFreeGiB = total,
    };

    private static IEnumerable<HostCandidate> Hosts(int count, decimal total, string prefix = "h", string zone = "nova") =>
        Enumerable.Range(1, count).Select(i => Host($"{prefix}{i:0000}", total, zone));

    [Fact]
    public void Up_to_the_limit_every_host_is_named_as_before()
    {
        var result = PlacementPolicy.Place(8, null, Hosts(PlacementResult.HostsNamedInFull, 4));
        Assert.False(result.Placed);
        var text = result.Explain(8, null);
        Assert.Equal("No volume host can take 8 GiB: " +
                     string.Join("; ", Enumerable.Range(1, PlacementResult.HostsNamedInFull)
                         .Select(i => $"h{i:0000}: capacity 4 GiB, 0 GiB provisioned, 0% reserved: 4 GiB free for 8 GiB")) + ".", text);
    }

    [Fact]
    public void A_thousand_full_hosts_are_counted_with_the_first_three_named()
    {
        // Hosts given in reverse name order: the examples are still the first names.
        var result = PlacementPolicy.Place(8, "nova", Hosts(1000, 4).Reverse());
        var text = result.Explain(8, "nova");
        Assert.Equal(
            "No volume host can take 8 GiB in zone nova: none of 1000 volume hosts can, 1000 short of space (" +
            "h0001: capacity 4 GiB, 0 GiB provisioned, 0% reserved: 4 GiB free for 8 GiB; " +
            "h0002: capacity 4 GiB, 0 GiB provisioned, 0% reserved: 4 GiB free for 8 GiB; " +
            "h0003: capacity 4 GiB, 0 GiB provisioned, 0% reserved: 4 GiB free for 8 GiB; and 997 more). " +
            "Get-BlockVolumeService -Service volume shows every host.", text);
        Assert.True(text.Length < 500, $"{text.Length} characters");
    }

    [Fact]
    public void Classes_go_biggest_first_with_hosts_of_other_zones_last()
    {
        var hosts = Hosts(2, 100).Select(h => h with { Up = false })
            .Concat(Hosts(5, 4, prefix: "small"))
            .Concat(Hosts(20, 100, prefix: "far", zone: "z2"));
        var result = PlacementPolicy.Place(8, "nova", hosts);
        Assert.False(result.Placed);
        var text = result.Explain(8, "nova");
        Assert.StartsWith("No volume host can take 8 GiB in zone nova: none of 27 volume hosts can, 5 short of space (small0001: ", text);
        var space = text.IndexOf("5 short of space (", StringComparison.Ordinal);
        var down = text.IndexOf(", 2 down (h0001: down (no heartbeat within the down threshold); h0002: down (no heartbeat within the down threshold))", StringComparison.Ordinal);
        var zone = text.IndexOf(", 20 in another zone (far0001: in zone z2, not nova; far0002: in zone z2, not nova; far0003: in zone z2, not nova; and 17 more)", StringComparison.Ordinal);
        Assert.True(space >= 0 && down > space && zone > down, text);
        Assert.Contains("small0003: capacity 4 GiB, 0 GiB provisioned, 0% reserved: 4 GiB free for 8 GiB; and 2 more)", text);
        Assert.DoesNotContain("small0004", text);
    }

    [Fact]
    public void The_classes_a_metric_counts_are_the_same_either_way()
    {
        var result = PlacementPolicy.Place(8, "nova", Hosts(1000, 4).Append(Host("off", 100) with { Enabled = false }));
        Assert.Equal([RejectionClasses.Capacity, RejectionClasses.Disabled], RejectionClasses.Of(result));
        Assert.Contains(", 1 disabled (off: disabled)", result.Explain(8, "nova"));
    }
}
