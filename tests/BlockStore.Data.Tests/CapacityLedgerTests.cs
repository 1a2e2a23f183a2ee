using BlockStore.Core;

namespace BlockStore.Data.Tests;

/// <summary>
/// Placement through the database: the ledger (sizes of live volumes per host) against each host's
/// reported capacity, with Cinder's rules, and the reasons users read when nothing fits.
/// </summary>
public sealed class CapacityLedgerTests(TestDatabase db) : IClassFixture<TestDatabase>
{
    private async Task FreshAsync()
    {
        await db.ResetAsync();
        await db.AddSchedulerAsync();
    }

    [Fact]
    public async Task A_volume_too_large_for_every_host_ends_error_naming_each_host_capacity()
    {
        await FreshAsync();
        await db.AddHostAsync("host-a", 64);
        await db.AddHostAsync("host-b", 32, reservedPercentage: 10);
        var v = (await db.CreateAsync("big", 1, 100))[0];
        var outcome = Assert.Single(await db.PlaceAllAsync());
        Assert.Null(outcome.Host);

        var after = (await db.Volumes.GetAsync(v.Id))!;
        Assert.Equal(VolumeStatus.Error, after.Status);
        Assert.Null(after.Host);
        Assert.Contains("100 GiB", after.StatusReason);
        Assert.Contains("host-a: capacity 64 GiB, 0 GiB provisioned, 0% reserved: 64 GiB free for 100 GiB", after.StatusReason);
        Assert.Contains("host-b: capacity 32 GiB, 0 GiB provisioned, 10% reserved: 28.8 GiB free for 100 GiB", after.StatusReason);
        Assert.Equal("failed", await db.ScalarAsync<string>("SELECT stage FROM bs.operations"));
        var error = (await db.Volumes.ListEventsAsync(v.Id, 10))[^1];
        Assert.Equal("error", error.Kind);
        Assert.Equal(after.StatusReason, error.Message);
    }

    [Fact]
    public async Task The_ledger_fills_a_host_exactly_and_not_beyond()
    {
        await FreshAsync();
        await db.AddHostAsync("host-a", 10);
        await db.CreateAsync("fill", 11, 1);
        var outcomes = await db.PlaceAllAsync(batch: 4);
        Assert.Equal(10, outcomes.Count(o => o.Host == "host-a"));
        Assert.Equal(1, outcomes.Count(o => o.Host is null));
        Assert.Equal(10, (await db.ProvisionedAsync())["host-a"]);
    }

    [Fact]
    public async Task Deleted_volumes_give_their_capacity_back_and_failed_ones_hold_none()
    {
        await FreshAsync();
        await db.AddHostAsync("host-a", 10);
        var first = (await db.CreateAsync("a", 1, 6))[0];
        await db.PlaceAllAsync();
        await db.RunAgentAsync("host-a");
        var second = (await db.CreateAsync("b", 1, 6))[0];
        await db.PlaceAllAsync();
        Assert.Equal(VolumeStatus.Error, await db.StatusAsync(second.Id)); // 6 + 6 > 10

        await db.Volumes.RequestDeleteAsync(first.Id);
        Assert.Equal(6, (await db.ProvisionedAsync())["host-a"]); // deleting: the LV still exists
        await db.RunAgentAsync("host-a");
        Assert.Equal(VolumeStatus.Deleted, await db.StatusAsync(first.Id));

        var third = (await db.CreateAsync("c", 1, 10))[0];
        Assert.Equal("host-a", Assert.Single(await db.PlaceAllAsync()).Host);
        Assert.Equal(10, (await db.ProvisionedAsync())["host-a"]);
        Assert.Equal(VolumeStatus.Creating, await db.StatusAsync(third.Id));
    }

    [Fact]
    public async Task The_reserved_percentage_is_kept_free()
    {
        await FreshAsync();
        await db.AddHostAsync("host-a", 100, reservedPercentage: 10);
        await db.CreateAsync("r90", 1, 90);
        await db.CreateAsync("r1", 1, 1);
        var outcomes = await db.PlaceAllAsync();
        Assert.Equal("host-a", outcomes[0].Host);
        Assert.Null(outcomes[1].Host);
        Assert.Contains("10% reserved: 0 GiB free for 1 GiB", outcomes[1].Reason);
    }

    [Fact]
    public async Task Thin_hosts_take_up_to_twenty_times_their_pool()
    {
        await FreshAsync();
        await db.AddHostAsync("thin-a", 10, backend: BackendType.Thin);
        await db.CreateAsync("t", 1, 200);
        await db.CreateAsync("u", 1, 1);
        var outcomes = await db.PlaceAllAsync();
        Assert.Equal("thin-a", outcomes[0].Host);
        Assert.Null(outcomes[1].Host);
        Assert.Contains("ratio 20", outcomes[1].Reason);
    }

    [Fact]
    public async Task Disabled_frozen_down_and_other_zone_hosts_are_skipped_with_their_reasons()
    {
        await FreshAsync();
        await db.AddHostAsync("disabled", 100);
        await db.AddHostAsync("frozen", 100);
        await db.AddHostAsync("down", 100);
        await db.AddHostAsync("elsewhere", 100, zone: "zone2");
        await db.ExecuteAsync("UPDATE bs.services SET disabled = true, disabled_reason = 'maintenance' WHERE host = 'disabled'");
        await db.ExecuteAsync("UPDATE bs.services SET frozen = true WHERE host = 'frozen'");
        await db.ExecuteAsync("UPDATE bs.services SET heartbeat_at = now() - interval '1 hour' WHERE host = 'down'");
        await db.CreateAsync("z", 1, 1, zone: "nova");

        var outcome = Assert.Single(await db.PlaceAllAsync());
        Assert.Null(outcome.Host);
        Assert.Contains("disabled: disabled (maintenance)", outcome.Reason);
        Assert.Contains("frozen: frozen", outcome.Reason);
        Assert.Contains("down: down", outcome.Reason);
        Assert.Contains("elsewhere: in zone zone2, not nova", outcome.Reason);
    }

    [Fact]
    public async Task Most_free_capacity_wins_and_a_burst_spreads_evenly()
    {
        await FreshAsync();
        await db.AddHostAsync("host-a", 100);
        await db.AddHostAsync("host-b", 60);
        await db.CreateAsync("s", 60, 1);
        var outcomes = await db.PlaceAllAsync(batch: 7);
        // host-a (100) takes the first 40, then they alternate: 50 + 10 ... ends 50/10, free 50/50.
        Assert.All(outcomes.Take(40), o => Assert.Equal("host-a", o.Host));
        var provisioned = await db.ProvisionedAsync();
        Assert.Equal(100 - provisioned["host-a"], 60 - provisioned["host-b"]);
    }
}
