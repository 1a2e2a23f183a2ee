using BlockStore.Core;
using BlockStore.Data;

namespace BlockStore.Commands;

/// <summary>
/// Waits for snapshots to settle (the -Wait of New-/Remove-BlockVolumeSnapshot). StatusWaiter's
/// loop; it sleeps on the volume status notifications, which the agent also sends for the volume
/// of a snapshot it has settled, so a wait ends as soon as it can (the poll covers the rest).
/// </summary>
internal sealed class SnapshotWaiter(BlockStoreCmdlet cmdlet, SnapshotRequests snapshots, VolumeRequests volumes, CancellationToken ct)
{
    /// <summary>Polls until each snapshot is in a final status. Returns them as last seen and those that timed out, in request order.</summary>
    public (List<BlockVolumeSnapshot> Done, List<BlockVolumeSnapshot> TimedOut) Wait(IReadOnlyList<BlockVolumeSnapshot> targets, int timeoutSec, string activity)
    {
        var volumeOf = targets.ToDictionary(s => s.Id, s => s.VolumeId);
        var waiter = new StatusWaiter<BlockVolumeSnapshot>(cmdlet, s => s.Id,
            (ids, token) => snapshots.ListAsync(new SnapshotFilter(Ids: ids.ToList(), IncludeDeleted: true), token),
            s => $"{s.Name} ({s.Status})", ct);
        var listener = TryListen();
        try
        {
            return waiter.Wait(targets, s => SnapshotStatus.IsFinal(s.Status), timeoutSec, activity, progressId: 3,
                listener is null ? null : (ids, nap) => listener.WaitAsync(ids.Select(id => volumeOf[id]).Distinct().ToList(), nap, ct));
        }
        finally
        {
            listener?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>A notification listener, or null when it cannot be had (then the wait only polls, which is slower but equally correct).</summary>
    private VolumeStatusListener? TryListen()
    {
        try
        {
            return volumes.ListenAsync(ct).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return null;
        }
    }
}
