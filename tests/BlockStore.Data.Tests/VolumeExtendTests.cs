using BlockStore.Core;

namespace BlockStore.Data.Tests;

/// <summary>
/// Resize-BlockVolume's data side (issue 12): the request checks size, status and the host's room
/// under the ledger lock and reserves the new size at once; the agent's success keeps it, its
/// failure restores the old size (the ledger follows both ways, no drift).
/// </summary>
public sealed class VolumeExtendTests(TestDatabase db) : IClassFixture<TestDatabase>
{
    private async Task<BlockVolume> AvailableAsync(decimal hostGiB = 100, int sizeGiB = 10)
    {
        await db.ResetAsync();
        await db.AddSchedulerAsync();
        await db.AddHostAsync("host-a", hostGiB);
        var v = (await db.CreateAsync("x", 1, sizeGiB))[0];
        await db.PlaceAllAsync();
        await db.RunAgentAsync("host-a");
        Assert.Equal(VolumeStatus.Available, await db.StatusAsync(v.Id));
        return v;
    }

    private Task<long> LedgerAsync() => db.ScalarAsync<long>("SELECT provisioned_gib FROM bs.capacity_ledger WHERE host = 'host-a'");

    [Fact]
    public async Task An_extend_reserves_the_new_size_at_once_and_the_agent_keeps_it()
    {
        var v = await AvailableAsync();
        var requested = await db.Volumes.RequestExtendAsync(v.Id, 25);
        Assert.Equal(VolumeStatus.Extending, requested.Status);
        Assert.Equal(25, requested.SizeGiB);
        Assert.Equal(25, await LedgerAsync());
        Assert.Equal(10, await db.ScalarAsync<int>($"SELECT from_size_gib FROM bs.operations WHERE volume_id = '{v.Id}' AND kind = 'extend'"));

        var queue = db.Agent("host-a");
        var op = (await queue.ClaimAsync("a", TimeSpan.FromSeconds(30), 8)).Single();
        Assert.Equal((OperationKind.Extend, 25), (op.Kind, op.SizeGiB));
        Assert.True(await queue.CompleteAsync("a", op, null, "lvextend vg/volume to 25 GiB"));

        var done = (await db.Volumes.GetAsync(v.Id))!;
        Assert.Equal((VolumeStatus.Available, 25), (done.Status, done.SizeGiB));
        Assert.Empty(await db.LedgerDriftAsync());
    }

    [Fact]
    public async Task A_failed_extend_is_available_again_at_the_old_size_with_the_reason()
    {
        var v = await AvailableAsync();
        await db.Volumes.RequestExtendAsync(v.Id, 30);
        var queue = db.Agent("host-a");
        var op = (await queue.ClaimAsync("a", TimeSpan.FromSeconds(30), 8)).Single();
        Assert.True(await queue.CompleteAsync("a", op, "lvextend: insufficient free space"));

        var done = (await db.Volumes.GetAsync(v.Id))!;
        Assert.Equal((VolumeStatus.Available, 10, "lvextend: insufficient free space"), (done.Status, done.SizeGiB, done.StatusReason));
        Assert.Equal(10, await LedgerAsync());
        Assert.Empty(await db.LedgerDriftAsync());
    }

    [Fact]
    public async Task Growth_beyond_the_host_is_InsufficientCapacity_and_writes_nothing()
    {
        var v = await AvailableAsync(hostGiB: 20);
        var before = await db.ScalarAsync<string>($"SELECT size_gib || status || (SELECT count(*) FROM bs.operations WHERE volume_id = '{v.Id}') FROM bs.volumes WHERE id = '{v.Id}'");
        var e = await Assert.ThrowsAsync<BlockStoreException>(() => db.Volumes.RequestExtendAsync(v.Id, 21));
        Assert.Equal(ErrorIds.InsufficientCapacity, e.ErrorId);
        Assert.Contains("host-a", e.Message);
        Assert.Equal(before, await db.ScalarAsync<string>($"SELECT size_gib || status || (SELECT count(*) FROM bs.operations WHERE volume_id = '{v.Id}') FROM bs.volumes WHERE id = '{v.Id}'"));
        Assert.Equal(10, await LedgerAsync());

        // Exactly the room there is still fits.
        Assert.Equal(20, (await db.Volumes.RequestExtendAsync(v.Id, 20)).SizeGiB);
    }

    [Theory]
    [InlineData(10, ErrorIds.InvalidVolumeSize)]
    [InlineData(9, ErrorIds.InvalidVolumeSize)]
    public async Task A_size_not_larger_is_refused(long size, string errorId)
    {
        var v = await AvailableAsync();
        var e = await Assert.ThrowsAsync<BlockStoreException>(() => db.Volumes.RequestExtendAsync(v.Id, size));
        Assert.Equal(errorId, e.ErrorId);
        Assert.Equal(0, await db.ScalarAsync<long>($"SELECT count(*) FROM bs.operations WHERE volume_id = '{v.Id}' AND kind = 'extend'"));
    }

    [Fact]
    public async Task A_volume_already_extending_is_InvalidVolumeState()
    {
        var v = await AvailableAsync();
        await db.Volumes.RequestExtendAsync(v.Id, 11);
        var e = await Assert.ThrowsAsync<BlockStoreException>(() => db.Volumes.RequestExtendAsync(v.Id, 12));
        Assert.Equal(ErrorIds.InvalidVolumeState, e.ErrorId);
        Assert.Equal(11, await LedgerAsync());
    }
}
