using BlockStore.Core;

namespace BlockStore.Data.Tests;

/// <summary>
/// Thick placement through the database when other LVs share a host's VG: the agent reports total,
/// free and the space of its own LVs; the scheduler keeps off the rest, and says so when nothing fits.
/// </summary>
public sealed class ForeignSpaceTests(TestDatabase db) : IClassFixture<TestDatabase>
{
    private async Task FreshAsync()
    {
        await db.ResetAsync();
        await db.AddSchedulerAsync();
    }

    [Fact]
    public async Task A_foreign_lv_filling_most_of_the_vg_stops_placement_there_with_a_reason_that_says_so()
    {
        await FreshAsync();
        // 256 GiB VG, 210 GiB taken by an LV that is not ours, none of ours yet.
        await db.AddHostAsync("host-a", 256, freeGiB: 46, allocatedGiB: 0);
        var v = (await db.CreateAsync("big", 1, 50))[0];

        Assert.Null(Assert.Single(await db.PlaceAllAsync()).Host);
        var after = (await db.Volumes.GetAsync(v.Id))!;
        Assert.Equal(VolumeStatus.Error, after.Status);
        Assert.Contains("host-a: capacity 256 GiB, 210 GiB used by logical volumes that are not BlockStore's (agent report), " +
                        "0 GiB provisioned: 46 GiB free for 50 GiB", after.StatusReason);
    }

    [Fact]
    public async Task The_volume_goes_to_the_host_whose_vg_others_leave_room_in()
    {
        await FreshAsync();
        await db.AddHostAsync("host-a", 256, freeGiB: 46, allocatedGiB: 0);
        await db.AddHostAsync("host-b", 64);
        await db.CreateAsync("v", 1, 50);
        Assert.Equal("host-b", Assert.Single(await db.PlaceAllAsync()).Host);
    }

    [Fact]
    public async Task Placements_not_yet_in_the_agents_report_count_at_once()
    {
        await FreshAsync();
        await db.AddHostAsync("host-a", 256, freeGiB: 46, allocatedGiB: 0);
        await db.CreateAsync("first", 1, 40);
        await db.CreateAsync("second", 1, 10);
        var outcomes = await db.PlaceAllAsync(batch: 1);
        // The report still says 46 GiB free; the ledger knows 40 of them are taken.
        Assert.Equal("host-a", outcomes[0].Host);
        Assert.Null(outcomes[1].Host);
        Assert.Contains("6 GiB free for 10 GiB", outcomes[1].Reason);
    }

    [Fact]
    public async Task Our_own_lvs_in_the_report_are_not_taken_for_foreign_ones()
    {
        await FreshAsync();
        // 40 GiB of ours on disk (and in the ledger), nothing else: 216 GiB free, no foreign space.
        await db.AddHostAsync("host-a", 256, freeGiB: 216, allocatedGiB: 40);
        var first = (await db.CreateAsync("ours", 1, 40))[0];
        await db.PlaceAllAsync();
        await db.CreateAsync("fits", 1, 216);
        Assert.Equal("host-a", (await db.PlaceAllAsync()).Single().Host);
        Assert.NotNull(first);
    }
}
