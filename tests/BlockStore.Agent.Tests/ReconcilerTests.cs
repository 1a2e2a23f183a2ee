using BlockStore.Agent;
using BlockStore.Core;
using BlockStore.Data;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlockStore.Agent.Tests;

/// <summary>Stands in for the database side of the reconcile pass; hooks let a test move state between the pass's reads.</summary>
internal sealed class FakeReconcileStore(string host) : IReconcileStore
{
    public string Host { get; } = host;

    public Dictionary<Guid, VolumeRecord> Rows { get; } = [];

    public Dictionary<Guid, SnapshotRecord> SnapshotRows { get; } = [];

    public List<(Guid VolumeId, string Kind, string Message)> Events { get; } = [];

    /// <summary>Runs before the records are read (the pass has listed LVM once).</summary>
    public Action? BeforeRecords { get; set; }

    /// <summary>Runs before each read of the available volumes, with the read's number (1, 2).</summary>
    public Action<int>? BeforeAvailable { get; set; }

    private int _availableReads;

    public Task<List<VolumeRecord>> GetVolumeRecordsAsync(IReadOnlyCollection<Guid> ids, CancellationToken ct)
    {
        BeforeRecords?.Invoke();
        return Task.FromResult(ids.Where(Rows.ContainsKey).Select(id => Rows[id]).ToList());
    }

    public Task<List<SnapshotRecord>> GetSnapshotRecordsAsync(IReadOnlyCollection<Guid> ids, CancellationToken ct) =>
        Task.FromResult(ids.Where(SnapshotRows.ContainsKey).Select(id => SnapshotRows[id]).ToList());

    public Task<List<Guid>> AvailableVolumeIdsAsync(CancellationToken ct)
    {
        BeforeAvailable?.Invoke(++_availableReads);
        return Task.FromResult(Rows.Values.Where(r => r.Host == Host && r.Status == VolumeStatus.Available).Select(r => r.Id).ToList());
    }

    public Task RecordEventAsync(Guid volumeId, string kind, string message, CancellationToken ct)
    {
        Events.Add((volumeId, kind, message));
        return Task.CompletedTask;
    }
}

public class ReconcilerTests
{
    private const string Host = "node1";

    private static (Reconciler Reconciler, FakeLvm Lvm, FakeReconcileStore Store) Make(bool removeOrphans = false)
    {
        var lvm = new FakeLvm();
        var store = new FakeReconcileStore(Host);
        var options = new AgentOptions { HostName = Host, VolumeGroup = "vg1", Reconcile = new ReconcileOptions { RemoveOrphans = removeOrphans } };
        return (new Reconciler(new LvmClient(lvm, activation: false), store, options, NullLogger<Reconciler>.Instance), lvm, store);
    }

    private static string Lv(Guid id) => StorageNames.Volume(id);

    [Fact]
    public async Task An_orphan_of_a_deleted_volume_is_reported_only_unless_removal_is_configured()
    {
        var (reconciler, lvm, store) = Make();
        var id = Guid.NewGuid();
        lvm.Lvs[Lv(id)] = (1, null);
        store.Rows[id] = new VolumeRecord(id, VolumeStatus.Deleted, Host, false);

        var result = await reconciler.RunAsync(default);

        Assert.Equal((0, 1), (result.Removed, result.Reported));
        Assert.True(lvm.Lvs.ContainsKey(Lv(id)));
        var e = Assert.Single(store.Events);
        Assert.Equal(("reconcile-mismatch", id), (e.Kind, e.VolumeId));
        Assert.Contains("reported only (Agent:Reconcile:RemoveOrphans=false)", e.Message);
        Assert.DoesNotContain(lvm.Runs, r => r.Program == "lvremove");
    }

    [Fact]
    public async Task With_RemoveOrphans_the_orphan_of_a_deleted_volume_is_removed_with_an_event()
    {
        var (reconciler, lvm, store) = Make(removeOrphans: true);
        var id = Guid.NewGuid();
        lvm.Lvs[Lv(id)] = (1, null);
        store.Rows[id] = new VolumeRecord(id, VolumeStatus.Deleted, Host, false);

        var result = await reconciler.RunAsync(default);

        Assert.Equal(1, result.Removed);
        Assert.False(lvm.Lvs.ContainsKey(Lv(id)));
        Assert.Equal(("orphan-removed", id), (Assert.Single(store.Events).Kind, store.Events[0].VolumeId));
    }

    [Fact]
    public async Task Lvs_not_of_our_naming_are_never_touched_nor_reported_even_with_RemoveOrphans()
    {
        var (reconciler, lvm, store) = Make(removeOrphans: true);
        var id = Guid.NewGuid();
        var foreign = new[] { "data", "volume-notaguid", "volume-" + id.ToString().ToUpperInvariant(), "volume-" + id.ToString("N"), "xvolume-" + id, "volume-" + id + "-snap" };
        foreach (var name in foreign)
        {
            lvm.Lvs[name] = (5, null);
        }

        store.Rows[id] = new VolumeRecord(id, VolumeStatus.Deleted, Host, false);

        var result = await reconciler.RunAsync(default);

        Assert.Equal((0, 0, 0), (result.Checked, result.Removed, result.Reported));
        Assert.Equal(foreign.Order(), lvm.Lvs.Keys.Order());
        Assert.Empty(store.Events);
        Assert.All(lvm.Runs, r => Assert.Equal("lvs", r.Program));
    }

    [Fact]
    public async Task An_lv_without_a_row_or_of_another_host_is_reported_once_and_never_removed()
    {
        var (reconciler, lvm, store) = Make(removeOrphans: true);
        Guid unknown = Guid.NewGuid(), elsewhere = Guid.NewGuid();
        lvm.Lvs[Lv(unknown)] = (1, null);
        lvm.Lvs[Lv(elsewhere)] = (1, null);
        store.Rows[elsewhere] = new VolumeRecord(elsewhere, VolumeStatus.Available, "node2", false);

        var first = await reconciler.RunAsync(default);
        var second = await reconciler.RunAsync(default);

        Assert.Equal((0, 2), (first.Removed, first.Reported));
        Assert.Equal((0, 0), (second.Removed, second.Reported));
        Assert.True(lvm.Lvs.ContainsKey(Lv(unknown)) && lvm.Lvs.ContainsKey(Lv(elsewhere)));
        Assert.Contains(store.Events, e => e.VolumeId == unknown && e.Message.Contains("has no volume row") && e.Message.EndsWith("left in place"));
        Assert.Contains(store.Events, e => e.VolumeId == elsewhere && e.Message.Contains("available on host node2"));
        Assert.Equal(2, store.Events.Count);
    }

    [Fact]
    public async Task A_mismatch_that_was_fixed_and_comes_back_is_reported_again()
    {
        var (reconciler, lvm, store) = Make();
        var unknown = Guid.NewGuid();
        lvm.Lvs[Lv(unknown)] = (1, null);
        await reconciler.RunAsync(default);
        lvm.Lvs.Remove(Lv(unknown));
        await reconciler.RunAsync(default);
        lvm.Lvs[Lv(unknown)] = (1, null);
        await reconciler.RunAsync(default);

        Assert.Equal(2, store.Events.Count(e => e.VolumeId == unknown));
    }

    [Fact]
    public async Task A_delete_that_finishes_during_the_pass_is_not_taken_for_an_orphan()
    {
        // LVM is listed first; before the rows are read, the agent's delete removes the LV and
        // completes: the rows then say deleted with no operation left, but the LV is gone.
        var (reconciler, lvm, store) = Make(removeOrphans: true);
        var id = Guid.NewGuid();
        lvm.Lvs[Lv(id)] = (1, null);
        store.Rows[id] = new VolumeRecord(id, VolumeStatus.Deleting, Host, true);
        store.BeforeRecords = () =>
        {
            lvm.Lvs.Remove(Lv(id));
            store.Rows[id] = new VolumeRecord(id, VolumeStatus.Deleted, Host, false);
        };

        var result = await reconciler.RunAsync(default);

        Assert.Equal((0, 0), (result.Removed, result.Reported));
        Assert.Empty(store.Events);
        Assert.DoesNotContain(lvm.Runs, r => r.Program == "lvremove");
    }

    [Fact]
    public async Task A_delete_with_an_operation_still_to_run_is_left_to_the_agent()
    {
        var (reconciler, lvm, store) = Make(removeOrphans: true);
        var id = Guid.NewGuid();
        lvm.Lvs[Lv(id)] = (1, null);
        store.Rows[id] = new VolumeRecord(id, VolumeStatus.Deleted, Host, true);

        Assert.Equal((0, 0), ((await reconciler.RunAsync(default)).Removed, (await reconciler.RunAsync(default)).Reported));
        Assert.True(lvm.Lvs.ContainsKey(Lv(id)));
    }

    [Fact]
    public async Task A_create_that_finishes_during_the_pass_is_not_reported_missing()
    {
        // The volume becomes available after LVM was first listed: its LV is in the second list.
        var (reconciler, lvm, store) = Make();
        var id = Guid.NewGuid();
        store.Rows[id] = new VolumeRecord(id, VolumeStatus.Creating, Host, true);
        store.BeforeAvailable = n =>
        {
            if (n == 1)
            {
                lvm.Lvs[Lv(id)] = (1, null);
                store.Rows[id] = new VolumeRecord(id, VolumeStatus.Available, Host, false);
            }
        };

        Assert.Equal(0, (await reconciler.RunAsync(default)).Reported);
        Assert.Empty(store.Events);
    }

    [Fact]
    public async Task A_volume_deleted_between_the_reads_is_not_reported_missing()
    {
        // Available when the rows are read; deleted (status first, then the LV) before LVM is
        // listed the second time: the second read of the available volumes no longer has it.
        var (reconciler, lvm, store) = Make();
        var id = Guid.NewGuid();
        lvm.Lvs[Lv(id)] = (1, null);
        store.Rows[id] = new VolumeRecord(id, VolumeStatus.Available, Host, false);
        lvm.BeforeReport = n =>
        {
            if (n == 2)
            {
                store.Rows[id] = new VolumeRecord(id, VolumeStatus.Deleting, Host, true);
                lvm.Lvs.Remove(Lv(id));
            }
        };

        Assert.Equal(0, (await reconciler.RunAsync(default)).Reported);
        Assert.Empty(store.Events);
    }

    [Fact]
    public async Task An_available_volume_without_its_lv_is_reported()
    {
        var (reconciler, lvm, store) = Make(removeOrphans: true);
        var id = Guid.NewGuid();
        store.Rows[id] = new VolumeRecord(id, VolumeStatus.Available, Host, false);

        Assert.Equal(1, (await reconciler.RunAsync(default)).Reported);
        Assert.Contains("volume is available but LV vg1/" + Lv(id) + " does not exist", Assert.Single(store.Events).Message);
        Assert.DoesNotContain(lvm.Runs, r => r.Program is "lvcreate" or "lvremove");
    }

    private static string SnapLv(Guid id) => StorageNames.Snapshot(id);

    [Fact]
    public async Task The_snapshot_lv_of_a_deleted_snapshot_is_reported_only_on_its_volume_unless_removal_is_configured()
    {
        var (reconciler, lvm, store) = Make();
        Guid volume = Guid.NewGuid(), snap = Guid.NewGuid();
        lvm.Lvs[Lv(volume)] = (1, null);
        lvm.Lvs[SnapLv(snap)] = (1, null);
        store.Rows[volume] = new VolumeRecord(volume, VolumeStatus.Available, Host, false);
        store.SnapshotRows[snap] = new SnapshotRecord(snap, volume, SnapshotStatus.Deleted, Host, false);

        var result = await reconciler.RunAsync(default);

        Assert.Equal((2, 0, 1), (result.Checked, result.Removed, result.Reported));
        Assert.True(lvm.Lvs.ContainsKey(SnapLv(snap)));
        var e = Assert.Single(store.Events);
        Assert.Equal(("reconcile-mismatch", volume), (e.Kind, e.VolumeId));
        Assert.Equal($"orphan snapshot LV vg1/{SnapLv(snap)}: its snapshot is deleted; reported only (Agent:Reconcile:RemoveOrphans=false)", e.Message);
        Assert.DoesNotContain(lvm.Runs, r => r.Program == "lvremove");
    }

    [Fact]
    public async Task With_RemoveOrphans_the_snapshot_lv_of_a_deleted_snapshot_is_removed_and_its_volume_lv_stays()
    {
        var (reconciler, lvm, store) = Make(removeOrphans: true);
        Guid volume = Guid.NewGuid(), snap = Guid.NewGuid();
        lvm.Lvs[Lv(volume)] = (1, null);
        lvm.Lvs[SnapLv(snap)] = (1, null);
        store.Rows[volume] = new VolumeRecord(volume, VolumeStatus.Available, Host, false);
        store.SnapshotRows[snap] = new SnapshotRecord(snap, volume, SnapshotStatus.Deleted, Host, false);

        var result = await reconciler.RunAsync(default);

        Assert.Equal(1, result.Removed);
        Assert.False(lvm.Lvs.ContainsKey(SnapLv(snap)));
        Assert.True(lvm.Lvs.ContainsKey(Lv(volume)));
        Assert.Single(lvm.Runs, r => r.Program == "lvremove");
        Assert.Equal(("orphan-removed", volume), (Assert.Single(store.Events).Kind, store.Events[0].VolumeId));
    }

    [Fact]
    public async Task A_snapshot_lv_without_a_row_or_of_another_host_is_reported_once_and_never_removed()
    {
        var (reconciler, lvm, store) = Make(removeOrphans: true);
        Guid unknown = Guid.NewGuid(), elsewhere = Guid.NewGuid(), itsVolume = Guid.NewGuid();
        lvm.Lvs[SnapLv(unknown)] = (1, null);
        lvm.Lvs[SnapLv(elsewhere)] = (1, null);
        store.SnapshotRows[elsewhere] = new SnapshotRecord(elsewhere, itsVolume, SnapshotStatus.Available, "node2", false);

        var first = await reconciler.RunAsync(default);
        var second = await reconciler.RunAsync(default);

        Assert.Equal((0, 2), (first.Removed, first.Reported));
        Assert.Equal((0, 0), (second.Removed, second.Reported));
        Assert.True(lvm.Lvs.ContainsKey(SnapLv(unknown)) && lvm.Lvs.ContainsKey(SnapLv(elsewhere)));
        Assert.Contains(store.Events, e => e.VolumeId == unknown && e.Message.Contains("has no snapshot row") && e.Message.EndsWith("left in place"));
        Assert.Contains(store.Events, e => e.VolumeId == itsVolume && e.Message.Contains("available on host node2"));
        Assert.Equal(2, store.Events.Count);
        Assert.DoesNotContain(lvm.Runs, r => r.Program == "lvremove");
    }

    [Fact]
    public async Task A_deleted_snapshot_whose_volume_still_has_work_queued_is_left_to_the_agent()
    {
        // e.g. Remove-BlockVolume -Cascade: the snapshot row is settled, the volume's delete still runs.
        var (reconciler, lvm, store) = Make(removeOrphans: true);
        Guid volume = Guid.NewGuid(), snap = Guid.NewGuid();
        lvm.Lvs[SnapLv(snap)] = (1, null);
        store.SnapshotRows[snap] = new SnapshotRecord(snap, volume, SnapshotStatus.Deleted, Host, true);

        var result = await reconciler.RunAsync(default);

        Assert.Equal((0, 0), (result.Removed, result.Reported));
        Assert.Empty(store.Events);
    }

    [Fact]
    public async Task A_snapshot_delete_that_finishes_during_the_pass_is_not_taken_for_an_orphan()
    {
        // LVM is listed first; then the agent's snapshot delete removes the LV and settles the row.
        var (reconciler, lvm, store) = Make(removeOrphans: true);
        Guid volume = Guid.NewGuid(), snap = Guid.NewGuid();
        lvm.Lvs[SnapLv(snap)] = (1, null);
        store.SnapshotRows[snap] = new SnapshotRecord(snap, volume, SnapshotStatus.Deleting, Host, true);
        store.BeforeRecords = () =>
        {
            lvm.Lvs.Remove(SnapLv(snap));
            store.SnapshotRows[snap] = new SnapshotRecord(snap, volume, SnapshotStatus.Deleted, Host, false);
        };

        var result = await reconciler.RunAsync(default);

        Assert.Equal((0, 0), (result.Removed, result.Reported));
        Assert.Empty(store.Events);
        Assert.DoesNotContain(lvm.Runs, r => r.Program == "lvremove");
    }

    [Fact]
    public async Task Snapshot_lvs_of_other_naming_are_never_touched_and_live_snapshots_are_not_reported()
    {
        var (reconciler, lvm, store) = Make(removeOrphans: true);
        Guid volume = Guid.NewGuid(), snap = Guid.NewGuid();
        var foreign = new[] { "_snapshot-notaguid", "snapshot-" + snap, "_snapshot-" + snap.ToString().ToUpperInvariant(), "_snapshot-" + snap.ToString("N"), "x_snapshot-" + snap };
        foreach (var name in foreign)
        {
            lvm.Lvs[name] = (5, null);
        }

        lvm.Lvs[Lv(volume)] = (1, null);
        lvm.Lvs[SnapLv(snap)] = (1, null);
        store.Rows[volume] = new VolumeRecord(volume, VolumeStatus.Available, Host, false);
        store.SnapshotRows[snap] = new SnapshotRecord(snap, volume, SnapshotStatus.Available, Host, false);

        var result = await reconciler.RunAsync(default);

        Assert.Equal((2, 0, 0), (result.Checked, result.Removed, result.Reported));
        Assert.Empty(store.Events);
        Assert.All(lvm.Runs, r => Assert.Equal("lvs", r.Program));
    }
}
