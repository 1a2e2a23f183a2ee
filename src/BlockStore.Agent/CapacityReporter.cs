using BlockStore.Core;
using BlockStore.Data;
using BlockStore.Hosting;
using Microsoft.Extensions.Options;

namespace BlockStore.Agent;

/// <summary>
/// Reads the volume group (or thin pool) for each heartbeat; for thick, also how much of it our own
/// LVs use. A missing VG or pool makes the host
/// report itself unhealthy, which removes it from placement; it still heartbeats, so operators
/// see "up but unhealthy (reason)" rather than a host that looks dead.
/// </summary>
public sealed class CapacityReporter(LvmClient lvm, IOptions<AgentOptions> options) : ICapacityReporter
{
    public async Task<CapacityReport> ReportAsync(CancellationToken ct)
    {
        var o = options.Value;
        // Thick: one lvs gives the VG's size and free space with its LVs (a single metadata snapshot);
        // vgs only when the VG has no LV yet, or is missing.
        var usage = o.BackendType == "thin" ? null : await lvm.GetUsageAsync(o.VolumeGroup, ct);
        var vg = usage?.Vg ?? await lvm.GetVolumeGroupAsync(o.VolumeGroup, ct);
        if (vg is null)
        {
            return new CapacityReport(o.BackendType, 0, 0, 0, false, $"volume group {o.VolumeGroup} not found", o.ReservedPercentage, o.MaxOverSubscriptionRatio);
        }

        if (o.BackendType == "thin")
        {
            var pool = await lvm.GetThinPoolAsync(o.VolumeGroup, o.ThinPool ?? "", ct);
            if (pool is null)
            {
                return new CapacityReport(o.BackendType, 0, 0, 0, false, $"thin pool {o.VolumeGroup}/{o.ThinPool} not found", o.ReservedPercentage, o.MaxOverSubscriptionRatio);
            }

            var used = pool.Value.SizeGiB * pool.Value.DataPercent / 100m;
            return new CapacityReport(o.BackendType, pool.Value.SizeGiB, pool.Value.SizeGiB - used, used, true, null, o.ReservedPercentage, o.MaxOverSubscriptionRatio);
        }

        // Thick: allocated is the space of our own LVs (Cinder's allocated_capacity_gb), measured with
        // the VG's size and free space, so the scheduler can tell the space of other LVs in the VG
        // (total - free - ours) and keep off it.
        // Snapshot COW areas are ours too: the ledger counts thick snapshots.
        var ours = usage?.Lvs.Where(lv => StorageNames.VolumeIdOf(lv.Name) is not null || StorageNames.SnapshotIdOf(lv.Name) is not null).Sum(lv => lv.SizeGiB) ?? 0m;
        return new CapacityReport(o.BackendType, vg.SizeGiB, vg.FreeGiB, ours, true, null, o.ReservedPercentage, o.MaxOverSubscriptionRatio);
    }
}
