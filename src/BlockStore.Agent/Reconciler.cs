using BlockStore.Core;
using BlockStore.Data;

namespace BlockStore.Agent;

/// <summary>What one reconcile pass found and did.</summary>
public sealed record ReconcileResult(int Checked, int Removed, int Reported);

/// <summary>
/// At agent start, compares the volume group with the database. Only LVs named
/// volume-&lt;uuid&gt; are ever considered; every other LV in the VG belongs to someone else and
/// is never touched. An LV whose volume is deleted (and has no operation left to run) is an
/// orphan of an interrupted or manual change: it is removed, with an event. Anything else that
/// does not add up (an LV without any volume row, an LV of a volume placed on another host, an
/// available volume without its LV) is reported as an event for an operator to look at, never
/// changed automatically: the database may be the one that is wrong.
/// </summary>
public sealed class Reconciler(LvmClient lvm, AgentQueue queue, AgentOptions options, ILogger<Reconciler> logger)
{
    private const string Prefix = "volume-";

    public async Task<ReconcileResult> RunAsync(CancellationToken ct)
    {
        var ours = new Dictionary<Guid, LogicalVolume>();
        foreach (var lv in await lvm.ListAsync(options.VolumeGroup, ct))
        {
            if (lv.Name.StartsWith(Prefix, StringComparison.Ordinal)
                && Guid.TryParseExact(lv.Name[Prefix.Length..], "D", out var id)
                && VolumeBackend.LvName(id) == lv.Name)
            {
                ours[id] = lv;
            }
        }

        var records = (await queue.GetVolumeRecordsAsync(ours.Keys, ct)).ToDictionary(r => r.Id);
        int removed = 0, reported = 0;
        foreach (var (id, lv) in ours)
        {
            var where = $"{options.VolumeGroup}/{lv.Name}";
            if (!records.TryGetValue(id, out var record))
            {
                reported++;
                await ReportAsync(id, $"LV {where} has no volume row in the database; left in place", ct);
            }
            else if (record.Host != queue.Host && record.Status != VolumeStatus.Deleted)
            {
                reported++;
                await ReportAsync(id, $"LV {where} exists here but the volume is {record.Status} on host {record.Host ?? "(none)"}; left in place", ct);
            }
            else if (record.Status == VolumeStatus.Deleted && !record.HasLiveOperation)
            {
                await lvm.RemoveAsync(options.VolumeGroup, lv.Name, ct);
                removed++;
                logger.LogWarning("Removed orphan LV {Lv}: its volume is deleted", where);
                await queue.RecordEventAsync(id, "orphan-removed", $"orphan LV {where} removed at agent start: its volume is deleted", ct);
            }
        }

        foreach (var id in await queue.AvailableVolumeIdsAsync(ct))
        {
            if (!ours.ContainsKey(id))
            {
                reported++;
                await ReportAsync(id, $"volume is available but LV {options.VolumeGroup}/{VolumeBackend.LvName(id)} does not exist", ct);
            }
        }

        return new ReconcileResult(ours.Count, removed, reported);
    }

    private async Task ReportAsync(Guid id, string message, CancellationToken ct)
    {
        logger.LogWarning("Reconcile: {Message}", message);
        await queue.RecordEventAsync(id, "reconcile-mismatch", message, ct);
    }
}
