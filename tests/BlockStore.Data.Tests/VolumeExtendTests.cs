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

    /// <summary>An available volume of host-a attached for real (request, claim, the agent's outcome): in-use.</summary>
    private async Task<(BlockVolume Volume, BlockVolumeAttachment Attachment)> InUseAsync(bool hostReportsLio)
    {
        var v = await AvailableAsync();
        await db.ExecuteAsync("UPDATE bs.services SET capabilities = '{\"iscsi\": true}' WHERE host = 'host-a'");
        var (att, _) = await new AttachmentRequests(db.Store).RequestAttachAsync(v.Id, "iqn.2026-01.com.example:client1");
        var op = (await db.Agent("host-a").ClaimAsync("a", TimeSpan.FromSeconds(30), 8)).Single(o => o.AttachmentId == att.Id);
        Assert.True(await new AgentAttachments(db.Store, "host-a").CompleteAsync("a", op.Id, OperationKind.Attach, v.Id, att.Id,
            new AttachmentOutcome(null, $"iqn.2010-10.org.openstack:volume-{v.Id}", "127.0.0.1:3260", 0)));
        Assert.Equal(VolumeStatus.InUse, await db.StatusAsync(v.Id));
        if (!hostReportsLio)
        {
            // The agent restarted without LIO since (its probe failed): the export may be gone or changed.
            await db.ExecuteAsync("UPDATE bs.services SET capabilities = '{\"iscsi\": false}' WHERE host = 'host-a'");
        }

        return (v, att);
    }

    [Theory]
    [InlineData(null, 25)]
    [InlineData("lvextend: insufficient free space", 10)]
    public async Task An_in_use_volume_on_a_host_exporting_with_LIO_grows_and_is_in_use_again_either_way(string? error, int endSize)
    {
        var (v, att) = await InUseAsync(hostReportsLio: true);
        var requested = await db.Volumes.RequestExtendAsync(v.Id, 25);
        Assert.Equal((VolumeStatus.Extending, 25), (requested.Status, requested.SizeGiB));

        var queue = db.Agent("host-a");
        var op = (await queue.ClaimAsync("a", TimeSpan.FromSeconds(30), 8)).Single();
        Assert.Equal(OperationKind.Extend, op.Kind);
        Assert.True(await queue.CompleteAsync("a", op, error, "lvextend vg/volume to 25 GiB"));

        var done = (await db.Volumes.GetAsync(v.Id))!;
        Assert.Equal((VolumeStatus.InUse, endSize, error), (done.Status, done.SizeGiB, done.StatusReason));
        Assert.Equal(AttachmentStatus.Attached, await db.ScalarAsync<string>($"SELECT status FROM bs.attachments WHERE id = '{att.Id}'"));
        Assert.Equal(endSize, await LedgerAsync());
        Assert.Empty(await db.LedgerDriftAsync());
    }

    [Fact]
    public async Task A_detach_asked_for_during_the_extend_runs_after_it()
    {
        var (v, att) = await InUseAsync(hostReportsLio: true);
        await db.Volumes.RequestExtendAsync(v.Id, 25);
        await new AttachmentRequests(db.Store).RequestDetachAsync(att.Id);
        Assert.Equal(VolumeStatus.Extending, await db.StatusAsync(v.Id));

        var queue = db.Agent("host-a");
        var extend = (await queue.ClaimAsync("a", TimeSpan.FromSeconds(30), 8)).Single();
        Assert.Equal(OperationKind.Extend, extend.Kind);
        Assert.True(await queue.CompleteAsync("a", extend, null));
        Assert.Equal(VolumeStatus.Detaching, await db.StatusAsync(v.Id));

        var detach = (await queue.ClaimAsync("a", TimeSpan.FromSeconds(30), 8)).Single();
        Assert.True(await new AgentAttachments(db.Store, "host-a").CompleteAsync("a", detach.Id, OperationKind.Detach, v.Id, att.Id, new AttachmentOutcome(null, null, null, null)));
        Assert.Equal(VolumeStatus.Available, await db.StatusAsync(v.Id));
        Assert.Equal(25, (await db.Volumes.GetAsync(v.Id))!.SizeGiB);
    }

    [Fact]
    public async Task An_in_use_volume_on_a_host_not_reporting_LIO_is_VolumeInUse_and_nothing_is_written()
    {
        var (v, _) = await InUseAsync(hostReportsLio: false);
        var e = await Assert.ThrowsAsync<BlockStoreException>(() => db.Volumes.RequestExtendAsync(v.Id, 25));
        Assert.Equal(ErrorIds.VolumeInUse, e.ErrorId);
        Assert.Contains("does not report an LIO iSCSI target", e.Message);
        Assert.Equal((VolumeStatus.InUse, 10), ((await db.Volumes.GetAsync(v.Id))!.Status, (await db.Volumes.GetAsync(v.Id))!.SizeGiB));
        Assert.Equal(0, await db.ScalarAsync<long>($"SELECT count(*) FROM bs.operations WHERE volume_id = '{v.Id}' AND kind = 'extend'"));
    }
}
