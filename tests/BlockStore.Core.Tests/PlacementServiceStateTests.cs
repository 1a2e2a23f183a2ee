using BlockStore.Core;

namespace BlockStore.Core.Tests;

/// <summary>
/// What an operator sees after disabling hosts (PlacementPolicyTests covers every rejection reason):
/// the other host takes the volume, and with none left the reason names each host and why.
/// </summary>
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

    [Fact]
    public void Disabled_is_reported_before_down_so_the_operator_sees_their_own_decision_first()
    {
        var result = PlacementPolicy.Place(1, null, [Host("node1") with { Enabled = false, Up = false, Frozen = true }]);
        Assert.Equal("disabled", Assert.Single(result.Rejections).Reason);
    }
}
