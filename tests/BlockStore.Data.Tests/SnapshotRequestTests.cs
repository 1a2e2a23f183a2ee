using BlockStore.Core;

namespace BlockStore.Data.Tests;

/// <summary>
/// Snapshot requests and their completion (migration 0010) through the product's data code, with
/// the agent's side played by AgentQueue as in the other data tests: the rules that refuse at once,
/// the operation order on one volume, the volume's status left alone, the ledger for thick
/// snapshots (never drifting), VolumeHasSnapshots and -Cascade.
/// </summary>
public sealed class SnapshotRequestTests(TestDatabase db) : IClassFixture<TestDatabase>
{
    private SnapshotRequests Snapshots => new(db.Store);

    private async Task<BlockVolume> AvailableVolumeAsync(string host, string backend = BackendType.Thick, bool canSnapshot = true, int sizeGiB = 4)
    {
        await db.ResetAsync();
        await db.AddSchedulerAsync();
        await db.AddHostAsync(host, 100, backend);
        await db.Agent(host).ReportSnapshotCapabilityAsync(canSnapshot, canSnapshot ? null : "no device-mapper here");
        var volume = (await db.CreateAsync("snap", 1, sizeGiB))[0];
        await db.PlaceAllAsync();
        await db.RunAgentAsync(host);
        Assert.Equal(VolumeStatus.Available, await db.StatusAsync(volume.Id));
        return (await db.Volumes.GetAsync(volume.Id))!;
    }

    private Task<long> LedgerAsync(string host) => db.ScalarAsync<long>($"SELECT provisioned_gib FROM bs.capacity_ledger WHERE host = '{host}'");

    private Task<long> WritesAsync(Guid volumeId) => db.ScalarAsync<long>(
        $"SELECT (SELECT count(*) FROM bs.snapshots WHERE volume_id = '{volumeId}') + (SELECT count(*) FROM bs.operations WHERE volume_id = '{volumeId}') " +
        $"+ (SELECT count(*) FROM bs.events WHERE volume_id = '{volumeId}')");

    [Fact]
    public async Task Core_and_sql_agree_on_which_snapshots_hold_space()
    {
        foreach (var status in SnapshotStatus.All)
        {
            foreach (var backend in new[] { BackendType.Thick, BackendType.Thin })
            {
                var sql = await db.ScalarAsync<bool>($"SELECT bs.snapshot_holds_space('{backend}', '{status}')");
                Assert.True(CapacityLedger.SnapshotHoldsSpace(backend, status) == sql, $"{status} {backend}: SQL {sql}");
            }
        }
    }

    [Fact]
    public async Task A_thick_snapshot_is_made_by_the_volumes_agent_and_holds_its_size_until_deleted()
    {
        var volume = await AvailableVolumeAsync("host-a");
        Assert.Equal(4, await LedgerAsync("host-a"));

        var snapshot = await Snapshots.CreateAsync(volume.Id, "before", "first", force: false);
        Assert.Equal(SnapshotStatus.Creating, snapshot.Status);
        Assert.Equal((volume.Id, volume.Name, 4, "host-a", BackendType.Thick), (snapshot.VolumeId, snapshot.VolumeName, snapshot.SizeGiB, snapshot.Host, snapshot.BackendType));
        Assert.Equal(8, await LedgerAsync("host-a"));
        Assert.Empty(await db.LedgerDriftAsync());

        var op = Assert.Single(await db.Agent("host-a").ClaimAsync("agent", TimeSpan.FromSeconds(30), 8));
        Assert.Equal((OperationKind.SnapshotCreate, snapshot.Id, 4), (op.Kind, op.SnapshotId, op.SizeGiB));
        Assert.True(await db.Agent("host-a").CompleteAsync("agent", op, null, "lvcreate -s"));
        Assert.Equal(SnapshotStatus.Available, (await Snapshots.GetAsync(snapshot.Id))!.Status);
        Assert.Equal(VolumeStatus.Available, await db.StatusAsync(volume.Id));

        var removing = await Snapshots.RequestDeleteAsync(snapshot.Id);
        Assert.Equal(SnapshotStatus.Deleting, removing.Status);
        Assert.Equal(SnapshotStatus.Deleting, (await Snapshots.RequestDeleteAsync(snapshot.Id)).Status); // asking twice is no error
        Assert.Equal(8, await LedgerAsync("host-a")); // held until the LV is gone
        await db.RunAgentAsync("host-a");
        Assert.Equal(SnapshotStatus.Deleted, (await Snapshots.GetAsync(snapshot.Id))!.Status);
        Assert.Equal(4, await LedgerAsync("host-a"));
        Assert.Empty(await db.LedgerDriftAsync());
        Assert.Empty(await Snapshots.ListAsync(new SnapshotFilter(VolumeIds: [volume.Id])));
        Assert.Single(await Snapshots.ListAsync(new SnapshotFilter(VolumeIds: [volume.Id], IncludeDeleted: true)));
    }

    [Fact]
    public async Task A_failed_snapshot_ends_in_error_with_the_reason_and_gives_its_space_back()
    {
        var volume = await AvailableVolumeAsync("host-a");
        var snapshot = await Snapshots.CreateAsync(volume.Id, "s", null, force: false);
        var op = Assert.Single(await db.Agent("host-a").ClaimAsync("agent", TimeSpan.FromSeconds(30), 8));
        await db.Agent("host-a").CompleteAsync("agent", op, "lvcreate failed: Can't create snapshot without using device-mapper kernel driver.");
        var failed = (await Snapshots.GetAsync(snapshot.Id))!;
        Assert.Equal(SnapshotStatus.Error, failed.Status);
        Assert.Contains("device-mapper", failed.StatusReason);
        Assert.Equal(4, await LedgerAsync("host-a"));
        Assert.Empty(await db.LedgerDriftAsync());
        Assert.Equal(VolumeStatus.Available, await db.StatusAsync(volume.Id));
    }

    [Fact]
    public async Task A_thin_snapshot_holds_no_space_of_its_own()
    {
        var volume = await AvailableVolumeAsync("host-t", BackendType.Thin);
        var snapshot = await Snapshots.CreateAsync(volume.Id, "t", null, force: false);
        Assert.Equal(BackendType.Thin, snapshot.BackendType);
        Assert.Equal(4, await LedgerAsync("host-t"));
        Assert.Empty(await db.LedgerDriftAsync());
    }

    [Fact]
    public async Task Refusals_write_nothing()
    {
        var volume = await AvailableVolumeAsync("host-a");
        await Snapshots.CreateAsync(volume.Id, "taken", null, force: false);
        var before = await WritesAsync(volume.Id);

        async Task Refused(string errorId, Func<Task> request)
        {
            var e = await Assert.ThrowsAsync<BlockStoreException>(request);
            Assert.Equal(errorId, e.ErrorId);
            Assert.Equal(before, await WritesAsync(volume.Id));
        }

        await Refused(ErrorIds.SnapshotNameInUse, () => Snapshots.CreateAsync(volume.Id, "taken", null, false));
        await Refused(ErrorIds.InvalidSnapshotName, () => Snapshots.CreateAsync(volume.Id, "bad name", null, false));
        await Refused(ErrorIds.VolumeNotFound, () => Snapshots.CreateAsync(Guid.NewGuid(), "x", null, false));
        await Refused(ErrorIds.SnapshotNotFound, () => Snapshots.RequestDeleteAsync(Guid.NewGuid()));
        var creating = Assert.Single(await Snapshots.ListAsync(new SnapshotFilter(NamePatterns: ["taken"], VolumeIds: [volume.Id])));
        await Refused(ErrorIds.InvalidSnapshotState, () => Snapshots.RequestDeleteAsync(creating.Id));
        await Refused(ErrorIds.VolumeHasSnapshots, () => db.Volumes.RequestDeleteAsync(volume.Id));
        await Refused(ErrorIds.InvalidSnapshotState, () => db.Volumes.RequestDeleteAsync(volume.Id, force: false, cascade: true));

        // In-use: refused without -Force (VolumeInUse), accepted with it.
        await db.ExecuteAsync($"UPDATE bs.volumes SET status = 'in-use' WHERE id = '{volume.Id}'");
        await Refused(ErrorIds.VolumeInUse, () => Snapshots.CreateAsync(volume.Id, "attached", null, false));
        Assert.Equal(SnapshotStatus.Creating, (await Snapshots.CreateAsync(volume.Id, "attached", null, force: true)).Status);
    }

    [Fact]
    public async Task A_host_that_cannot_snapshot_refuses_with_its_reason()
    {
        var volume = await AvailableVolumeAsync("host-n", canSnapshot: false);
        var before = await WritesAsync(volume.Id);
        var e = await Assert.ThrowsAsync<BlockStoreException>(() => Snapshots.CreateAsync(volume.Id, "x", null, false));
        Assert.Equal(ErrorIds.SnapshotUnsupported, e.ErrorId);
        Assert.Contains("no device-mapper here", e.Message);
        Assert.Equal(before, await WritesAsync(volume.Id));
    }

    [Fact]
    public async Task Cascade_removes_the_snapshots_first_then_the_volume()
    {
        var volume = await AvailableVolumeAsync("host-a");
        var s1 = await Snapshots.CreateAsync(volume.Id, "one", null, false);
        var s2 = await Snapshots.CreateAsync(volume.Id, "two", null, false);
        await db.RunAgentAsync("host-a");
        Assert.Equal(12, await LedgerAsync("host-a"));

        var deleting = await db.Volumes.RequestDeleteAsync(volume.Id, force: false, cascade: true);
        Assert.Equal(VolumeStatus.Deleting, deleting.Status);
        var order = await db.ColumnAsync($"SELECT kind FROM bs.operations WHERE volume_id = '{volume.Id}' AND stage = 'scheduled' ORDER BY id");
        Assert.Equal(["snapshot-delete", "snapshot-delete", "delete"], order);

        await db.RunAgentAsync("host-a");
        Assert.Equal(VolumeStatus.Deleted, await db.StatusAsync(volume.Id));
        foreach (var s in new[] { s1, s2 })
        {
            Assert.Equal(SnapshotStatus.Deleted, (await Snapshots.GetAsync(s.Id))!.Status);
        }

        Assert.Equal(0, await LedgerAsync("host-a"));
        Assert.Empty(await db.LedgerDriftAsync());
    }

    [Fact]
    public async Task A_volume_from_a_thin_snapshot_is_made_on_its_host_by_its_agent()
    {
        var origin = await AvailableVolumeAsync("host-t", BackendType.Thin);
        var snapshot = await Snapshots.CreateAsync(origin.Id, "gold", null, false);
        await db.RunAgentAsync("host-t");

        var copy = await db.Volumes.CreateFromSnapshotAsync("copy", snapshot.Id, 6, "from gold", multiAttach: false);
        Assert.Equal((VolumeStatus.Creating, "host-t", 6, (Guid?)snapshot.Id), (copy.Status, copy.Host, copy.SizeGiB, copy.SnapshotId));
        Assert.Equal(10, await LedgerAsync("host-t")); // 4 + 6: held from the request on, as a placement would
        Assert.Empty(await db.LedgerDriftAsync());

        // The snapshot stays while the volume is being made from it.
        var e = await Assert.ThrowsAsync<BlockStoreException>(() => Snapshots.RequestDeleteAsync(snapshot.Id));
        Assert.Equal(ErrorIds.InvalidSnapshotState, e.ErrorId);

        var op = Assert.Single(await db.Agent("host-t").ClaimAsync("agent", TimeSpan.FromSeconds(30), 8));
        Assert.Equal((OperationKind.Create, copy.Id, (Guid?)snapshot.Id, 6), (op.Kind, op.VolumeId, op.SourceSnapshotId, op.SizeGiB));
        Assert.True(await db.Agent("host-t").CompleteAsync("agent", op, null, "lvcreate -s"));
        Assert.Equal(VolumeStatus.Available, await db.StatusAsync(copy.Id));
        Assert.Equal(SnapshotStatus.Deleting, (await Snapshots.RequestDeleteAsync(snapshot.Id)).Status);
    }

    [Fact]
    public async Task A_volume_from_a_snapshot_is_refused_at_once_when_it_cannot_be_made()
    {
        var origin = await AvailableVolumeAsync("host-t", BackendType.Thin);
        var creating = await Snapshots.CreateAsync(origin.Id, "not-yet", null, false);
        var before = await db.ScalarAsync<long>("SELECT (SELECT count(*) FROM bs.volumes) + (SELECT count(*) FROM bs.operations)");

        async Task Refused(string errorId, Func<Task> request)
        {
            var e = await Assert.ThrowsAsync<BlockStoreException>(request);
            Assert.Equal(errorId, e.ErrorId);
            Assert.Equal(before, await db.ScalarAsync<long>("SELECT (SELECT count(*) FROM bs.volumes) + (SELECT count(*) FROM bs.operations)"));
        }

        await Refused(ErrorIds.InvalidSnapshotState, () => db.Volumes.CreateFromSnapshotAsync("c1", creating.Id, null, null, false));
        await Refused(ErrorIds.SnapshotNotFound, () => db.Volumes.CreateFromSnapshotAsync("c2", Guid.NewGuid(), null, null, false));
        await db.RunAgentAsync("host-t");
        before = await db.ScalarAsync<long>("SELECT (SELECT count(*) FROM bs.volumes) + (SELECT count(*) FROM bs.operations)");
        await Refused(ErrorIds.InvalidVolumeSize, () => db.Volumes.CreateFromSnapshotAsync("c3", creating.Id, 3, null, false));
        await Refused(ErrorIds.VolumeNameInUse, () => db.Volumes.CreateFromSnapshotAsync(origin.Name, creating.Id, null, null, false));
        await Refused(ErrorIds.InvalidVolumeName, () => db.Volumes.CreateFromSnapshotAsync("bad name", creating.Id, null, null, false));

        // A thick (COW) snapshot would need a block copy: refused with the reason.
        await db.ExecuteAsync($"UPDATE bs.snapshots SET backend_type = 'thick' WHERE id = '{creating.Id}'");
        before = await db.ScalarAsync<long>("SELECT (SELECT count(*) FROM bs.volumes) + (SELECT count(*) FROM bs.operations)");
        await Refused(ErrorIds.SnapshotUnsupported, () => db.Volumes.CreateFromSnapshotAsync("c4", creating.Id, null, null, false));
    }

    [Fact]
    public async Task A_clone_of_a_thin_volume_is_made_on_its_host_and_holds_its_source_while_it_is_made()
    {
        var source = await AvailableVolumeAsync("host-t", BackendType.Thin);
        var clone = await db.Volumes.CreateCloneAsync("clone", source.Id, null, null, multiAttach: false);
        Assert.Equal((VolumeStatus.Creating, "host-t", 4, (Guid?)source.Id, (Guid?)null), (clone.Status, clone.Host, clone.SizeGiB, clone.SourceVolumeId, clone.SnapshotId));
        Assert.Equal(8, await LedgerAsync("host-t"));

        var e = await Assert.ThrowsAsync<BlockStoreException>(() => db.Volumes.RequestDeleteAsync(source.Id));
        Assert.Equal(ErrorIds.InvalidVolumeState, e.ErrorId);

        var op = Assert.Single(await db.Agent("host-t").ClaimAsync("agent", TimeSpan.FromSeconds(30), 8));
        Assert.Equal((clone.Id, (Guid?)source.Id, (Guid?)null), (op.VolumeId, op.SourceVolumeId, op.SourceSnapshotId));
        Assert.True(await db.Agent("host-t").CompleteAsync("agent", op, null, "lvcreate -s"));
        Assert.Equal(VolumeStatus.Available, await db.StatusAsync(clone.Id));
        Assert.Equal(VolumeStatus.Deleting, (await db.Volumes.RequestDeleteAsync(source.Id)).Status);
        Assert.Empty(await db.LedgerDriftAsync());
    }

    [Fact]
    public async Task A_clone_is_refused_at_once_when_it_cannot_be_made()
    {
        var thick = await AvailableVolumeAsync("host-a", BackendType.Thick);
        var count = "SELECT (SELECT count(*) FROM bs.volumes) + (SELECT count(*) FROM bs.operations)";
        var before = await db.ScalarAsync<long>(count);

        async Task Refused(string errorId, Func<Task> request)
        {
            var e = await Assert.ThrowsAsync<BlockStoreException>(request);
            Assert.Equal(errorId, e.ErrorId);
            Assert.Equal(before, await db.ScalarAsync<long>(count));
        }

        await Refused(ErrorIds.CloneUnsupported, () => db.Volumes.CreateCloneAsync("c1", thick.Id, null, null, false));
        await Refused(ErrorIds.VolumeNotFound, () => db.Volumes.CreateCloneAsync("c2", Guid.NewGuid(), null, null, false));
        await Refused(ErrorIds.InvalidVolumeSize, () => db.Volumes.CreateCloneAsync("c3", thick.Id, 3, null, false));
        await db.ExecuteAsync($"UPDATE bs.volumes SET status = 'in-use' WHERE id = '{thick.Id}'");
        await Refused(ErrorIds.InvalidVolumeState, () => db.Volumes.CreateCloneAsync("c4", thick.Id, null, null, false));
    }

    [Fact]
    public async Task A_thick_host_makes_clones_and_volumes_from_snapshots_only_when_its_agent_says_it_can_block_copy()
    {
        var thick = await AvailableVolumeAsync("host-a", BackendType.Thick);
        var snapshot = await Snapshots.CreateAsync(thick.Id, "cow", null, false);
        await db.RunAgentAsync("host-a");
        var count = "SELECT (SELECT count(*) FROM bs.volumes) + (SELECT count(*) FROM bs.operations)";
        var before = await db.ScalarAsync<long>(count);

        // No report yet, then the agent's reason: refused, naming the host and why, nothing written.
        var e = await Assert.ThrowsAsync<BlockStoreException>(() => db.Volumes.CreateCloneAsync("c1", thick.Id, null, null, false));
        Assert.Equal(ErrorIds.CloneUnsupported, e.ErrorId);
        Assert.Contains("host-a", e.Message);
        await db.Agent("host-a").ReportBlockCopyCapabilityAsync(false, "it has no device-mapper (here)");
        e = await Assert.ThrowsAsync<BlockStoreException>(() => db.Volumes.CreateCloneAsync("c1", thick.Id, null, null, false));
        Assert.Equal(ErrorIds.CloneUnsupported, e.ErrorId);
        Assert.Contains("Host host-a", e.Message);
        Assert.Contains("it has no device-mapper (here)", e.Message);
        Assert.Contains("block copy", e.Message);
        e = await Assert.ThrowsAsync<BlockStoreException>(() => db.Volumes.CreateFromSnapshotAsync("c2", snapshot.Id, null, null, false));
        Assert.Equal(ErrorIds.SnapshotUnsupported, e.ErrorId);
        Assert.Contains("host host-a", e.Message);
        Assert.Contains("it has no device-mapper (here)", e.Message);
        Assert.Equal(before, await db.ScalarAsync<long>(count));

        // Able to copy: both are made on the host, at the asked size, from their sources.
        await db.Agent("host-a").ReportBlockCopyCapabilityAsync(true, null);
        var clone = await db.Volumes.CreateCloneAsync("clone", thick.Id, 6, null, false);
        Assert.Equal((VolumeStatus.Creating, "host-a", 6, (Guid?)thick.Id), (clone.Status, clone.Host, clone.SizeGiB, clone.SourceVolumeId));
        var fromSnapshot = await db.Volumes.CreateFromSnapshotAsync("from-cow", snapshot.Id, null, null, false);
        Assert.Equal((VolumeStatus.Creating, "host-a", 4, (Guid?)snapshot.Id), (fromSnapshot.Status, fromSnapshot.Host, fromSnapshot.SizeGiB, fromSnapshot.SnapshotId));
        // While they are being made nothing may change the source's data under the copy: no attach, no revert.
        before = await db.ScalarAsync<long>(count);
        e = await Assert.ThrowsAsync<BlockStoreException>(() => new AttachmentRequests(db.Store).RequestAttachAsync(thick.Id, "iqn.2026-01.com.example:client1"));
        Assert.Equal(ErrorIds.InvalidVolumeState, e.ErrorId);
        Assert.Contains("clone", e.Message);
        e = await Assert.ThrowsAsync<BlockStoreException>(() => Snapshots.RequestRevertAsync(snapshot.Id));
        Assert.Equal(ErrorIds.InvalidVolumeState, e.ErrorId);
        Assert.Equal(before, await db.ScalarAsync<long>(count));

        var ops = await db.Agent("host-a").ClaimAsync("agent", TimeSpan.FromSeconds(30), 8);
        Assert.Equal(2, ops.Count);
        Assert.Contains(ops, op => op.VolumeId == clone.Id && op.SourceVolumeId == thick.Id);
        Assert.Contains(ops, op => op.VolumeId == fromSnapshot.Id && op.SourceSnapshotId == snapshot.Id);
        Assert.Empty(await db.LedgerDriftAsync());

        // Once both are made, the source can be attached and reverted again.
        foreach (var op in ops)
        {
            Assert.True(await db.Agent("host-a").CompleteAsync("agent", op, null, "block copy"));
        }

        Assert.Equal(VolumeStatus.Reverting, (await Snapshots.RequestRevertAsync(snapshot.Id)).Status);
    }

    [Fact]
    public async Task A_revert_goes_only_to_the_latest_snapshot_of_an_available_volume_and_ends_available()
    {
        var volume = await AvailableVolumeAsync("host-t", BackendType.Thin);
        var older = await Snapshots.CreateAsync(volume.Id, "older", null, false);
        var latest = await Snapshots.CreateAsync(volume.Id, "latest", null, false);
        await db.RunAgentAsync("host-t");
        var count = $"SELECT (SELECT count(*) FROM bs.operations WHERE volume_id = '{volume.Id}') || ' ' || (SELECT status FROM bs.volumes WHERE id = '{volume.Id}')";
        var before = await db.ScalarAsync<string>(count);

        var e = await Assert.ThrowsAsync<BlockStoreException>(() => Snapshots.RequestRevertAsync(older.Id));
        Assert.Equal(ErrorIds.SnapshotNotLatest, e.ErrorId);
        Assert.Contains("'latest'", e.Message);
        await db.ExecuteAsync($"UPDATE bs.volumes SET status = 'in-use' WHERE id = '{volume.Id}'");
        e = await Assert.ThrowsAsync<BlockStoreException>(() => Snapshots.RequestRevertAsync(latest.Id));
        Assert.Equal(ErrorIds.VolumeInUse, e.ErrorId);
        await db.ExecuteAsync($"UPDATE bs.volumes SET status = 'available' WHERE id = '{volume.Id}'");
        Assert.Equal(before, await db.ScalarAsync<string>(count));

        var reverting = await Snapshots.RequestRevertAsync(latest.Id);
        Assert.Equal(VolumeStatus.Reverting, reverting.Status);
        e = await Assert.ThrowsAsync<BlockStoreException>(() => Snapshots.RequestRevertAsync(latest.Id));
        Assert.Equal(ErrorIds.InvalidVolumeState, e.ErrorId);

        var op = Assert.Single(await db.Agent("host-t").ClaimAsync("agent", TimeSpan.FromSeconds(30), 8));
        Assert.Equal((OperationKind.Revert, (Guid?)latest.Id, 4), (op.Kind, op.SnapshotId, op.SizeGiB));
        Assert.True(await db.Agent("host-t").CompleteAsync("agent", op, "lvconvert failed: origin is open"));
        var failed = (await db.Volumes.GetAsync(volume.Id))!;
        Assert.Equal((VolumeStatus.Available, "lvconvert failed: origin is open"), (failed.Status, failed.StatusReason));
        Assert.Equal(SnapshotStatus.Available, (await Snapshots.GetAsync(latest.Id))!.Status);

        await Snapshots.RequestRevertAsync(latest.Id);
        await db.RunAgentAsync("host-t");
        var done = (await db.Volumes.GetAsync(volume.Id))!;
        Assert.Equal((VolumeStatus.Available, (string?)null), (done.Status, done.StatusReason));
        Assert.Equal(SnapshotStatus.Available, (await Snapshots.GetAsync(latest.Id))!.Status); // taken again by the agent

        // Once the latest is removed, the older one is the latest.
        await Snapshots.RequestDeleteAsync(latest.Id);
        await db.RunAgentAsync("host-t");
        Assert.Equal(VolumeStatus.Reverting, (await Snapshots.RequestRevertAsync(older.Id)).Status);
        Assert.Empty(await db.LedgerDriftAsync());
    }
}
