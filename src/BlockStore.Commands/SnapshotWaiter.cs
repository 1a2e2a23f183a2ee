using BlockStore.Core;
using BlockStore.Data;

namespace BlockStore.Commands;

/// <summary>
/// Waits for snapshots to settle (the -Wait of New-/Remove-BlockVolumeSnapshot). StatusWaiter's
/// loop; snapshots send no notification of their own, so it polls with a growing pause.
/// </summary>
internal sealed class SnapshotWaiter(BlockStoreCmdlet cmdlet, SnapshotRequests snapshots, CancellationToken ct)
{
    /// <summary>Polls until each snapshot is in a final status. Returns them as last seen and those that timed out, in request order.</summary>
    public (List<BlockVolumeSnapshot> Done, List<BlockVolumeSnapshot> TimedOut) Wait(IReadOnlyList<BlockVolumeSnapshot> targets, int timeoutSec, string activity) =>
        new StatusWaiter<BlockVolumeSnapshot>(cmdlet, s => s.Id,
                (ids, token) => snapshots.ListAsync(new SnapshotFilter(Ids: ids.ToList(), IncludeDeleted: true), token),
                s => $"{s.Name} ({s.Status})", ct)
            .Wait(targets, s => SnapshotStatus.IsFinal(s.Status), timeoutSec, activity, progressId: 3);
}
