using BlockStore.Core;

namespace BlockStore.Core.Tests;

/// <summary>
/// Thick placement when the VG is not BlockStore's alone: LVs of others (total − free − our LVs, from
/// one agent report) count against the reserve first, then against what the ledger may place.
/// </summary>
public sealed class PlacementForeignSpaceTests
{
    private static HostCandidate Host(decimal total, decimal free, decimal? ours, decimal provisioned, int reserved = 0,
        string name = "a", string backend = BackendType.Thick) => new()
    {
        Host = name,
        Zone = "nova",
        BackendType = backend,
        TotalGiB = total,
        ReportedFreeGiB = free,
        ReportedAllocatedGiB = ours,
        ProvisionedGiB = provisioned,
        ReservedPercentage = reserved,
    };

    [Fact]
    public void Foreign_space_is_total_less_free_less_our_lvs_and_never_negative()
    {
        Assert.Equal(200m, PlacementPolicy.ForeignUsedGiB(Host(256, 46, 10, 10)));
        Assert.Equal(0m, PlacementPolicy.ForeignUsedGiB(Host(256, 250, 10, 10)));
        Assert.Equal(0m, PlacementPolicy.ForeignUsedGiB(Host(256, 46, null, 10)));
        Assert.Equal(0m, PlacementPolicy.ForeignUsedGiB(Host(256, 46, 10, 10, backend: BackendType.Thin)));
    }

    [Fact]
    public void A_foreign_lv_filling_most_of_the_vg_stops_placement_with_a_reason_that_says_so()
    {
        // 256 GiB VG, a 200 GiB LV of someone else, 10 GiB of ours on disk: 46 GiB free.
        var host = Host(256, 46, 10, 10);
        Assert.Null(PlacementPolicy.CapacityRejection(host, 46));
        var reason = PlacementPolicy.CapacityRejection(host, 47);
        Assert.Equal("capacity 256 GiB, 200 GiB used by logical volumes that are not BlockStore's (agent report), " +
                     "10 GiB provisioned: 46 GiB free for 47 GiB", reason);
    }

    [Fact]
    public void Placements_the_agent_has_not_run_yet_count_at_once_through_the_ledger()
    {
        // The last report still shows 46 GiB free, but the ledger has placed 40 GiB more since.
        var host = Host(256, 46, 10, 50);
        Assert.Equal(6m, PlacementPolicy.VirtualFreeGiB(host));
        Assert.NotNull(PlacementPolicy.CapacityRejection(host, 7));
        Assert.Null(PlacementPolicy.CapacityRejection(host, 6));
    }

    [Fact]
    public void Our_volumes_that_reached_the_disk_are_not_counted_twice()
    {
        // After the agent made the 40 GiB and reported again: same free space for the scheduler.
        Assert.Equal(PlacementPolicy.VirtualFreeGiB(Host(256, 46, 10, 50)), PlacementPolicy.VirtualFreeGiB(Host(256, 6, 50, 50)));
    }

    [Fact]
    public void Foreign_lvs_count_against_the_reserve_first_as_in_cinder()
    {
        // 10% of 100 reserved; others use 4 GiB (inside the reserve): 90 GiB for us, as without them.
        Assert.Equal(90m, PlacementPolicy.VirtualFreeGiB(Host(100, 96, 0, 0, reserved: 10)));
        Assert.Contains("10% reserved", PlacementPolicy.CapacityRejection(Host(100, 96, 0, 0, reserved: 10), 91));
        // Others use 30 GiB (more than the reserve): 70 GiB.
        Assert.Equal(70m, PlacementPolicy.VirtualFreeGiB(Host(100, 70, 0, 0, reserved: 10)));
    }

    [Fact]
    public void An_agent_that_does_not_report_its_own_lvs_is_placed_on_by_the_ledger_alone()
    {
        Assert.Equal(246m, PlacementPolicy.VirtualFreeGiB(Host(256, 46, null, 10)));
    }

    [Fact]
    public void The_weigher_prefers_the_host_whose_vg_others_leave_room_in()
    {
        var crowded = Host(256, 46, 10, 10, name: "a");
        var roomy = Host(256, 200, 50, 50, name: "b");
        var result = PlacementPolicy.Place(10, null, [crowded, roomy]);
        Assert.Equal("b", result.Host);
        Assert.Equal(200m, result.HostFreeGiB);
    }
}
