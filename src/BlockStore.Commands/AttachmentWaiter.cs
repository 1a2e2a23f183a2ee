using BlockStore.Core;
using BlockStore.Data;

namespace BlockStore.Commands;

/// <summary>
/// Waits until attachments leave a transitional status (attaching/detaching), with progress. The
/// loop is StatusWaiter's; this says how to read attachments (with their secret for the one who
/// attaches) and when one is done.
/// </summary>
internal sealed class AttachmentWaiter(BlockStoreCmdlet cmdlet, AttachmentRequests attachments, CancellationToken ct)
{
    public (List<BlockVolumeAttachment> Done, List<BlockVolumeAttachment> TimedOut) Wait(
        IReadOnlyList<BlockVolumeAttachment> targets, string transitional, int timeoutSec, bool includeSecret, string activity)
    {
        var waiter = new StatusWaiter<BlockVolumeAttachment>(cmdlet, a => a.Id,
            (ids, token) => attachments.ListAsync(new AttachmentFilter(Ids: ids.ToList(), IncludeSecret: includeSecret), token),
            a => $"{a.InitiatorIqn} ({a.Status})", ct);
        var listener = TryListen();
        try
        {
            // Sleep until the agent signals one of these attachments (it NOTIFYs the attachment id
            // when it completes), or the pause passes: the poll covers missed notifications.
            return waiter.Wait(targets, a => a.Status != transitional, timeoutSec, activity, progressId: 2,
                listener is null ? null : (ids, nap) => listener.WaitAsync(ids, nap, ct));
        }
        finally
        {
            listener?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>A notification listener, or null when it cannot be had (then the wait only polls).</summary>
    private VolumeStatusListener? TryListen()
    {
        try
        {
            return attachments.ListenAsync(ct).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return null;
        }
    }
}
