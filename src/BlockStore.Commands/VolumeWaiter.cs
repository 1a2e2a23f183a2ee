using BlockStore.Core;
using BlockStore.Data;

namespace BlockStore.Commands;

/// <summary>
/// Waits for volumes to reach a status, showing progress. Shared by Wait-BlockVolume and the
/// -Wait switch of New-/Remove-BlockVolume. The loop is StatusWaiter's; this says when a volume
/// is done, and sleeps on the volume status notifications so a wait ends as soon as it can.
/// </summary>
internal sealed class VolumeWaiter(BlockStoreCmdlet cmdlet, VolumeRequests volumes, CancellationToken ct)
{
    /// <summary>
    /// Polls until each volume is in one of <paramref name="statuses"/> (or any final status when
    /// null). Returns the volumes as last seen and those that timed out, in request order.
    /// <paramref name="listening"/>: a listener whose LISTEN committed with (or before) every target's
    /// request, the targets as those requests returned them (New-BlockVolume -Wait); the wait takes
    /// it over and, since no change can have come before it, sleeps on it before the first read.
    /// </summary>
    public (List<BlockVolume> Done, List<BlockVolume> TimedOut) Wait(IReadOnlyList<BlockVolume> targets, IReadOnlyCollection<string>? statuses, int timeoutSec,
        string activity, VolumeStatusListener? listening = null)
    {
        var waiter = new StatusWaiter<BlockVolume>(cmdlet, v => v.Id,
            (ids, token) => volumes.ListAsync(new VolumeFilter(Ids: ids.ToList(), IncludeDeleted: true), token),
            v => $"{v.Name} ({v.Status})", ct);
        var listener = listening ?? TryListen();
        try
        {
            // Sleep until a volume we wait for is signalled, or the pause passes (the poll covers
            // statuses nobody signals, such as deleting, and missed notifications).
            return waiter.Wait(targets, v => IsDone(v, statuses), timeoutSec, activity, progressId: 1,
                listener is null ? null : (ids, nap) => listener.WaitAsync(ids, nap, ct), targetsAreCurrent: listening is not null);
        }
        finally
        {
            listener?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    private static bool IsDone(BlockVolume v, IReadOnlyCollection<string>? statuses)
    {
        var reached = statuses is null ? VolumeStatus.IsFinal(v.Status) : statuses.Contains(v.Status);
        // A volume that fails while we wait for something else will never get there.
        var stuck = statuses is not null && !reached && VolumeStatus.IsFinal(v.Status) && v.Status != VolumeStatus.Available;
        return reached || stuck;
    }

    /// <summary>
    /// A notification listener, or null when it cannot be had (then the wait only polls, which is
    /// slower but equally correct).
    /// </summary>
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
