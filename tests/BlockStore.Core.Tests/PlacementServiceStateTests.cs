using BlockStore.Core;

namespace BlockStore.Core.Tests;

/// <summary>How service state (enabled, up, frozen, healthy) decides placement and explains refusals.</summary>
public class PlacementServiceStateTests
{
    private static HostCandidate Host(string name) => new()
    {
        Host = name,
        Zone = "nova",
        TotalGiB = 64,
        ReportedFreeGiB = 64,
    };

    [Fact]
    public void A_disabled_host_gets_no_volume_and_the_other_one_does()
    {
        var result = PlacementPolicy.Place(1, null, [Host("node1") with { Enabled = false, DisabledReason = "maintenance" }, Host("node2")]);
        Assert.Equal("node2", result.Host);
        Assert.Equal([new HostRejection("node1", "disabled (maintenance)")], result.Rejections);
    }

    [Fact]
    public void With_every_host_disabled_the_reason_names_each_host_and_why()
    {
        var result = PlacementPolicy.Place(1, null,
            [Host("node1") with { Enabled = false, DisabledReason = "maintenance" }, Host("node2") with { Enabled = false }]);
        Assert.False(result.Placed);
        Assert.Equal("No volume host can take 1 GiB: node1: disabled (maintenance); node2: disabled.", result.Explain(1, null));
    }

    [Theory]
    [MemberData(nameof(Unavailable))]
    public void Refuses_a_host_that_is_not_available(HostCandidate host, string reason)
    {
        var result = PlacementPolicy.Place(1, null, [host]);
        Assert.Null(result.Host);
        Assert.Equal(reason, Assert.Single(result.Rejections).Reason);
    }

    public static TheoryData<HostCandidate, string> Unavailable => new()
    {
        { Host("node1") with { Up = false }, "down (no heartbeat within the down threshold)" },
        { Host("node1") with { Frozen = true }, "frozen" },
        { Host("node1") with { Healthy = false, HealthReason = "volume group bs-node1 not found" }, "unhealthy (volume group bs-node1 not found)" },
    };

    [Fact]
    public void Disabled_is_reported_before_down_so_the_operator_sees_their_own_decision_first()
    {
        var result = PlacementPolicy.Place(1, null, [Host("node1") with { Enabled = false, Up = false, Frozen = true }]);
        Assert.Equal("disabled", Assert.Single(result.Rejections).Reason);
    }
}
