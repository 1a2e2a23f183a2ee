using BlockStore.Data;
using BlockStore.Hosting;
using Microsoft.Extensions.Options;

namespace BlockStore.Agent;

/// <summary>
/// Reads the volume group (or thin pool) for each heartbeat. A missing VG or pool makes the host
/// report itself unhealthy, which removes it from placement; it still heartbeats, so operators
/// see "up but unhealthy (reason)" rather than a host that looks dead.
/// </summary>
public sealed class CapacityReporter(LvmClient lvm, IOptions<AgentOptions> options) : ICapacityReporter
{
    public async Task<CapacityReport> ReportAsync(CancellationToken ct)
    {
        var o = options.Value;
        var vg = await lvm.GetVolumeGroupAsync(o.VolumeGroup, ct);
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

        return new CapacityReport(o.BackendType, vg.SizeGiB, vg.FreeGiB, vg.SizeGiB - vg.FreeGiB, true, null, o.ReservedPercentage, o.MaxOverSubscriptionRatio);
    }
}
