using BlockStore.Core;

namespace BlockStore.Core.Tests;

/// <summary>
/// The scheduler's rejection counter is labelled by class: each reason PlacementPolicy writes must
/// land in its own class, or an alert on "capacity" would miss (or wrongly count) a rejection.
/// </summary>
public class RejectionClassesTests
{
    private static HostCandidate Host(string name) => new()
    {
        Host = name,
        Zone = "nova",
        TotalGiB = 64,
        ReportedFreeGiB = 64,
    };

    private static string ClassOf(HostCandidate host, int sizeGiB = 1, string? zone = null) =>
        Assert.Single(PlacementPolicy.Place(sizeGiB, zone, [host]).Rejections).Class;

    [Fact]
    public void Each_reason_the_policy_writes_has_its_class()
    {
        Assert.Equal(RejectionClasses.Disabled, ClassOf(Host("n") with { Enabled = false, DisabledReason = "down for a GiB of work" }));
        Assert.Equal(RejectionClasses.Down, ClassOf(Host("n") with { Up = false }));
        Assert.Equal(RejectionClasses.Frozen, ClassOf(Host("n") with { Frozen = true }));
        Assert.Equal(RejectionClasses.Unhealthy, ClassOf(Host("n") with { Healthy = false, HealthReason = "volume group vg0 not found" }));
        Assert.Equal(RejectionClasses.Zone, ClassOf(Host("n"), zone: "other"));
        Assert.Equal(RejectionClasses.Capacity, ClassOf(Host("n"), sizeGiB: 1000));
    }

    [Fact]
    public void A_failed_placement_counts_each_class_once_and_no_host_at_all_is_its_own_class()
    {
        var result = PlacementPolicy.Place(1000, null, [Host("a"), Host("b"), Host("c") with { Up = false }]);
        Assert.Equal([RejectionClasses.Capacity, RejectionClasses.Down], RejectionClasses.Of(result));
        Assert.Equal([RejectionClasses.NoHosts], RejectionClasses.Of(PlacementPolicy.Place(1, null, [])));
    }
}
