using BlockStore.Core;
using BlockStore.Data;

namespace BlockStore.Agent;

/// <summary>What one reconcile pass found and did.</summary>
public sealed record ReconcileResult(int Checked, int Removed, int Reported);

/// <summary>The database side of the reconcile pass (AgentQueue; a fake in unit tests).</summary>
public interface IReconcileStore
{
    string Host { get; }

    Task<List<VolumeRecord>> GetVolumeRecordsAsync(IReadOnlyCollection<Guid> ids, CancellationToken ct);

    Task<List<Guid>> AvailableVolumeIdsAsync(CancellationToken ct);

    Task<List<SnapshotRecord>> GetSnapshotRecordsAsync(IReadOnlyCollection<Guid> ids, CancellationToken ct);

    Task RecordEventAsync(Guid volumeId, string kind, string message, CancellationToken ct);
}

public sealed class AgentQueueReconcileStore(AgentQueue queue) : IReconcileStore
{
    public string Host => queue.Host;

    public Task<List<VolumeRecord>> GetVolumeRecordsAsync(IReadOnlyCollection<Guid> ids, CancellationToken ct) => queue.GetVolumeRecordsAsync(ids, ct);

    public Task<List<Guid>> AvailableVolumeIdsAsync(CancellationToken ct) => queue.AvailableVolumeIdsAsync(ct);

    public Task<List<SnapshotRecord>> GetSnapshotRecordsAsync(IReadOnlyCollection<Guid> ids, CancellationToken ct) => queue.GetSnapshotRecordsAsync(ids, ct);

    public Task RecordEventAsync(Guid volumeId, string kind, string message, CancellationToken ct) => queue.RecordEventAsync(volumeId, kind, message, ct);
}

/// <summary>
/// Compares the volume group with the database, at agent start and then every
/// Agent:Reconcile:IntervalSeconds (LvReconcileJob), beside the agent's own work. Only LVs named
/// volume-&lt;uuid&gt; or _snapshot-&lt;uuid&gt; are ever considered; every other LV in the VG belongs to someone else and is
/// never touched. Reads LVM first and the database second (ReconcilePlan says why), so a volume
/// in flight is never taken for an orphan. Every mismatch becomes an event (once per agent
/// process while it lasts, so a periodic pass does not flood the history); only the LV of a
/// deleted volume (or snapshot) with no operation left is removed, and only with Agent:Reconcile:RemoveOrphans.
/// Anything else (an LV without a volume row, an LV of a volume placed on another host, an
/// available volume without its LV) is never changed automatically: the database may be wrong.
/// </summary>
public sealed class Reconciler(LvmClient lvm, IReconcileStore store, AgentOptions options, ILogger<Reconciler> logger)
{
    private readonly SemaphoreSlim _oneAtATime = new(1, 1);
    private readonly ReportedFindings<(Guid, ReconcileFinding)> _reported = new();

    public async Task<ReconcileResult> RunAsync(CancellationToken ct)
    {
        await _oneAtATime.WaitAsync(ct);
        try
        {
            return await PassAsync(ct);
        }
        finally
        {
            _oneAtATime.Release();
        }
    }

    private async Task<ReconcileResult> PassAsync(CancellationToken ct)
    {
        var first = await OurLvsAsync(ct);
        var records = await store.GetVolumeRecordsAsync(first.Volumes, ct);
        var snapshotRecords = await store.GetSnapshotRecordsAsync(first.Snapshots, ct);
        var available = await store.AvailableVolumeIdsAsync(ct);
        var second = await OurLvsAsync(ct);
        var availableAgain = available.Any(id => !second.Volumes.Contains(id)) ? await store.AvailableVolumeIdsAsync(ct) : available;
        var found = ReconcilePlan.Find(store.Host, options.VolumeGroup, first.Volumes, records, available, second.Volumes, availableAgain);
        found.AddRange(ReconcilePlan.FindSnapshots(store.Host, options.VolumeGroup, first.Snapshots, snapshotRecords, second.Snapshots));

        int removed = 0, reported = 0;
        foreach (var m in found)
        {
            if (m.Removable && options.Reconcile.RemoveOrphans)
            {
                await lvm.RemoveAsync(options.VolumeGroup, m.LvName, ct);
                removed++;
                logger.LogWarning("Removed {Message}", m.Message);
                await store.RecordEventAsync(m.VolumeId, "orphan-removed", $"{m.Message}; removed by the reconcile pass", ct);
                continue;
            }

            if (_reported.IsNew(m.Key))
            {
                reported++;
                var message = m.Message + (m.Removable
                    ? "; reported only (Agent:Reconcile:RemoveOrphans=false)"
                    : m.Finding == ReconcileFinding.MissingLv ? "" : "; left in place");
                logger.LogWarning("Reconcile: {Message}", message);
                await store.RecordEventAsync(m.VolumeId, "reconcile-mismatch", message, ct);
                _reported.Recorded(m.Key);
            }
        }

        // A mismatch that went away (fixed by hand) is reported again should it come back.
        _reported.EndPass(found.Select(m => m.Key));
        return new ReconcileResult(second.Volumes.Count + second.Snapshots.Count, removed, reported);
    }

    /// <summary>The ids of the LVs of our naming in the VG: volumes and snapshots; every other LV is someone else's.</summary>
    private async Task<(HashSet<Guid> Volumes, HashSet<Guid> Snapshots)> OurLvsAsync(CancellationToken ct)
    {
        var volumes = new HashSet<Guid>();
        var snapshots = new HashSet<Guid>();
        foreach (var lv in await lvm.ListAsync(options.VolumeGroup, ct))
        {
            if (StorageNames.VolumeIdOf(lv.Name) is { } id)
            {
                volumes.Add(id);
            }
            else if (StorageNames.SnapshotIdOf(lv.Name) is { } snapshotId)
            {
                snapshots.Add(snapshotId);
            }
        }

        return (volumes, snapshots);
    }
}
