using BlockStore.Core;
using BlockStore.Data;

namespace BlockStore.Agent;

/// <summary>What a reconcile pass found about one volume id.</summary>
public enum ReconcileFinding
{
    /// <summary>The LV of a deleted volume with no operation left to run: may be removed.</summary>
    OrphanOfDeleted,

    /// <summary>An LV of our naming that no volume row explains.</summary>
    NoVolumeRow,

    /// <summary>An LV here of a volume that lives on another host (or on none).</summary>
    OtherHost,

    /// <summary>An available volume of this host without its LV.</summary>
    MissingLv,

    /// <summary>The LV (_snapshot-&lt;uuid&gt;) of a deleted snapshot with no operation of its volume left to run: may be removed.</summary>
    SnapshotOrphanOfDeleted,

    /// <summary>A snapshot LV of our naming that no snapshot row explains.</summary>
    NoSnapshotRow,

    /// <summary>A snapshot LV here of a snapshot recorded on another host.</summary>
    SnapshotOtherHost,
}

/// <summary>
/// One finding. VolumeId is the volume the event goes to (for a snapshot LV: its row's volume, or
/// the snapshot id when there is no row); SnapshotId is set for findings about a snapshot LV.
/// </summary>
public sealed record ReconcileMismatch(Guid VolumeId, ReconcileFinding Finding, string Message, Guid? SnapshotId = null)
{
    /// <summary>The LV the finding is about.</summary>
    public string LvName => SnapshotId is { } s ? StorageNames.Snapshot(s) : StorageNames.Volume(VolumeId);

    /// <summary>Whether the reconcile pass may remove the LV (only with Agent:Reconcile:RemoveOrphans).</summary>
    public bool Removable => Finding is ReconcileFinding.OrphanOfDeleted or ReconcileFinding.SnapshotOrphanOfDeleted;

    /// <summary>What the pass remembers a reported finding by (the LV's id and the kind of finding).</summary>
    public (Guid, ReconcileFinding) Key => (SnapshotId ?? VolumeId, Finding);
}

/// <summary>
/// The reconcile rules, without I/O. The pass runs beside the agent's own work, so a snapshot may
/// catch a volume in flight; the inputs are read in an order that rules that out:
///   lvs (first) → database → lvs (second) → available volumes again.
/// An LV is judged by the rows read AFTER it was first seen, and must still exist in the second
/// lvs: a delete that finished before the rows were read removed its LV before that, so an LV
/// still there is a real orphan, not one being removed. (Rows are inserted before any LV is
/// made, so an LV seen before its row was read and without a row is not one being created.)
/// An available volume counts as missing its LV only when it was available before the second
/// lvs and still is after it: a delete first moves the volume out of available.
/// </summary>
public static class ReconcilePlan
{
    public static List<ReconcileMismatch> Find(
        string host,
        string volumeGroup,
        IReadOnlyCollection<Guid> firstLvs,
        IReadOnlyCollection<VolumeRecord> records,
        IReadOnlyCollection<Guid> available,
        IReadOnlyCollection<Guid> secondLvs,
        IReadOnlyCollection<Guid> availableAgain)
    {
        var rows = records.ToDictionary(r => r.Id);
        var second = secondLvs.ToHashSet();
        var found = new List<ReconcileMismatch>();
        foreach (var id in firstLvs.Where(second.Contains).Order())
        {
            var where = $"{volumeGroup}/{StorageNames.Volume(id)}";
            if (!rows.TryGetValue(id, out var row))
            {
                found.Add(new(id, ReconcileFinding.NoVolumeRow, $"LV {where} has no volume row in the database"));
            }
            else if (row.Status == VolumeStatus.Deleted)
            {
                if (!row.HasLiveOperation)
                {
                    found.Add(new(id, ReconcileFinding.OrphanOfDeleted, $"orphan LV {where}: its volume is deleted"));
                }
            }
            else if (row.Host != host)
            {
                found.Add(new(id, ReconcileFinding.OtherHost, $"LV {where} exists here but the volume is {row.Status} on host {row.Host ?? "(none)"}"));
            }
        }

        var stillAvailable = availableAgain.ToHashSet();
        foreach (var id in available.Where(id => !second.Contains(id) && stillAvailable.Contains(id)).Order())
        {
            found.Add(new(id, ReconcileFinding.MissingLv, $"volume is available but LV {volumeGroup}/{StorageNames.Volume(id)} does not exist"));
        }

        return found;
    }

    /// <summary>
    /// The same rules for snapshot LVs (_snapshot-&lt;uuid&gt;), read in the same order (first lvs →
    /// snapshot rows → second lvs): an LV seen twice whose snapshot is deleted, with nothing of its
    /// volume still queued (a snapshot delete, a revert that takes the snapshot again, a cascade),
    /// is an orphan; one without a row, or of a snapshot recorded on another host, is reported and
    /// left in place. A snapshot whose LV is missing is not judged here: a revert merges the LV
    /// away and takes it again, and the snapshot operations say themselves when an LV is gone.
    /// </summary>
    public static List<ReconcileMismatch> FindSnapshots(
        string host,
        string volumeGroup,
        IReadOnlyCollection<Guid> firstLvs,
        IReadOnlyCollection<SnapshotRecord> records,
        IReadOnlyCollection<Guid> secondLvs)
    {
        var rows = records.ToDictionary(r => r.Id);
        var second = secondLvs.ToHashSet();
        var found = new List<ReconcileMismatch>();
        foreach (var id in firstLvs.Where(second.Contains).Order())
        {
            var where = $"{volumeGroup}/{StorageNames.Snapshot(id)}";
            if (!rows.TryGetValue(id, out var row))
            {
                found.Add(new(id, ReconcileFinding.NoSnapshotRow, $"snapshot LV {where} has no snapshot row in the database", id));
            }
            else if (row.Status == SnapshotStatus.Deleted)
            {
                if (!row.VolumeHasLiveOperation)
                {
                    found.Add(new(row.VolumeId, ReconcileFinding.SnapshotOrphanOfDeleted, $"orphan snapshot LV {where}: its snapshot is deleted", id));
                }
            }
            else if (row.Host != host)
            {
                found.Add(new(row.VolumeId, ReconcileFinding.SnapshotOtherHost, $"snapshot LV {where} exists here but the snapshot is {row.Status} on host {row.Host}", id));
            }
        }

        return found;
    }
}
