using BlockStore.Core;

namespace BlockStore.Data.Tests;

/// <summary>
/// Volume types through the scheduler's own queue code: extra specs against what hosts report
/// (measured backend and zone, agent flags, capabilities declared in configuration), and the
/// reason of a volume no host matches, naming each host and the spec it failed.
/// </summary>
public sealed class VolumeTypeSchedulingTests(TestDatabase db) : IClassFixture<TestDatabase>
{
    private VolumeTypeRequests Types => new(db.Store);

    private async Task ResetAsync()
    {
        await db.ResetAsync();
        await db.ExecuteAsync("UPDATE bs.volume_types SET is_default = (name = 'default'); DELETE FROM bs.volume_types WHERE name <> 'default'");
        await db.AddSchedulerAsync();
        await db.AddHostAsync("thick-1", 1000);
        await db.AddHostAsync("thin-1", 10, BackendType.Thin);
    }

    [Fact]
    public async Task Types_place_by_backend_and_declared_capabilities_and_untyped_volumes_by_room()
    {
        await ResetAsync();
        await Types.CreateAsync("fast", null, new Dictionary<string, string> { ["backend_type"] = "thin" }, makeDefault: false);
        await Types.CreateAsync("ssd", null, new Dictionary<string, string> { ["capabilities:volume_backend_name"] = "lvm-ssd" }, makeDefault: false);
        await db.Agent("thick-1").ReportDeclaredCapabilitiesAsync(new Dictionary<string, string> { ["volume_backend_name"] = "lvm-ssd", ["backend_type"] = "thin" });

        var fast = await db.Volumes.CreateAsync("f", 1, null, null, false, null, "fast");
        var ssd = await db.Volumes.CreateAsync("s", 1, null, null, false, null, "ssd");
        var plain = await db.Volumes.CreateAsync("p", 1, null, null);
        await db.PlaceAllAsync();

        Assert.Equal("thin-1", (await db.Volumes.GetAsync(fast.Id))!.Host);
        Assert.Equal("thick-1", (await db.Volumes.GetAsync(ssd.Id))!.Host);
        // thin-1 offers 10 x 20 = 200 GiB virtual, thick-1 1000: the untyped volume goes by room.
        Assert.Equal("thick-1", (await db.Volumes.GetAsync(plain.Id))!.Host);
        // A declared backend_type is not taken: the measured one stays.
        Assert.Equal("thick", await db.ScalarAsync<string>("SELECT backend_type FROM bs.services WHERE host = 'thick-1'"));
        Assert.Equal("lvm-ssd", await db.ScalarAsync<string>("SELECT capabilities ->> 'volume_backend_name' FROM bs.services WHERE host = 'thick-1'"));
        Assert.False(await db.ScalarAsync<bool>("SELECT capabilities ? 'backend_type' FROM bs.services WHERE host = 'thick-1'"));
    }

    [Fact]
    public async Task A_type_no_host_matches_ends_in_error_naming_each_host_and_the_failed_spec()
    {
        await ResetAsync();
        await Types.CreateAsync("exported", null, new Dictionary<string, string> { ["iscsi"] = "true", ["disk"] = "nvme" }, makeDefault: false);
        await db.Agent("thin-1").ReportDeclaredCapabilitiesAsync(new Dictionary<string, string> { ["disk"] = "nvme" });
        var v = await db.Volumes.CreateAsync("x", 1, null, null, false, null, "exported");
        await db.PlaceAllAsync();

        var failed = (await db.Volumes.GetAsync(v.Id))!;
        Assert.Equal(VolumeStatus.Error, failed.Status);
        Assert.Equal("No volume host can take 1 GiB of volume type exported: " +
                     "thick-1: volume type wants disk=nvme (host: not reported), iscsi=true (host: not reported); " +
                     "thin-1: volume type wants iscsi=true (host: not reported).", failed.StatusReason);

        // Declared again without 'disk': the key is gone, not left over from the last start.
        await db.Agent("thin-1").ReportDeclaredCapabilitiesAsync(new Dictionary<string, string> { ["volume_backend_name"] = "LVM" });
        Assert.False(await db.ScalarAsync<bool>("SELECT capabilities ? 'disk' FROM bs.services WHERE host = 'thin-1'"));
    }

    [Fact]
    public async Task A_zone_no_volume_host_serves_is_refused_at_request_time_with_nothing_written()
    {
        await ResetAsync();
        var before = await db.ScalarAsync<long>("SELECT count(*) FROM bs.volumes");
        var e = await Assert.ThrowsAsync<BlockStoreException>(() => db.Volumes.CreateAsync("lost", 1, "nowhere", null));
        Assert.Equal((ErrorIds.InvalidAvailabilityZone, ErrorKind.InvalidArgument), (e.ErrorId, e.Kind));
        Assert.Equal("No volume host serves availability zone nowhere (zones served: nova). Nothing was requested.", e.Message);
        Assert.Equal(before, await db.ScalarAsync<long>("SELECT count(*) FROM bs.volumes"));
        Assert.Equal("nova", (await db.Volumes.CreateAsync("found", 1, "nova", null)).Zone);
    }
}
