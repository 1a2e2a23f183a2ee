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
        IReadOnlyList<BlockVolumeAttachment> targets, string transitional, int timeoutSec, bool includeSecret, string activity) =>
        new StatusWaiter<BlockVolumeAttachment>(cmdlet, a => a.Id,
                (ids, token) => attachments.ListAsync(new AttachmentFilter(Ids: ids.ToList(), IncludeSecret: includeSecret), token),
                a => $"{a.InitiatorIqn} ({a.Status})", ct)
            .Wait(targets, a => a.Status != transitional, timeoutSec, activity, progressId: 2);
}
