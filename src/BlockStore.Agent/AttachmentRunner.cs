using BlockStore.Core;
using BlockStore.Data;

namespace BlockStore.Agent;

/// <summary>
/// Runs one claimed attach or detach operation and writes its outcome. An attach that fails is
/// rolled back (the initiator's ACL, and the whole target when no other initiator uses it), so
/// a failed attachment never leaves half a target behind. The CHAP secret is handed to
/// targetcli on stdin only; it is never logged and never part of an event.
/// </summary>
public sealed class AttachmentRunner(AgentAttachments attachments, VolumeExporter exporter, ILogger<AttachmentRunner> logger)
{
    /// <summary>Runs and records one attach or detach; returns whether it succeeded (for the operations counter).</summary>
    public async Task<bool> RunAsync(string owner, ClaimedOperation op, CancellationToken ct)
    {
        var outcome = await RunCoreAsync(op, ct);
        if (!await attachments.CompleteAsync(owner, op.Id, op.Kind, op.VolumeId, op.AttachmentId!.Value, outcome, ct))
        {
            logger.LogWarning("Lost the lease on operation {Op} before completing it; the newer claim finishes it", op.Id);
        }

        return outcome.Error is null;
    }

    /// <summary>Ends an attach/detach whose attempts are used up: the attachment goes to its error outcome with the reason.</summary>
    public async Task FailAsync(string owner, ClaimedOperation op, string reason, CancellationToken ct)
    {
        if (!await attachments.CompleteAsync(owner, op.Id, op.Kind, op.VolumeId, op.AttachmentId!.Value, new AttachmentOutcome(reason), ct))
        {
            logger.LogWarning("Lost the lease on operation {Op} before completing it; the newer claim finishes it", op.Id);
        }
    }

    private async Task<AttachmentOutcome> RunCoreAsync(ClaimedOperation op, CancellationToken ct)
    {
        var work = await attachments.GetWorkAsync(op.AttachmentId!.Value, ct);
        if (work is null)
        {
            return new AttachmentOutcome($"attachment {op.AttachmentId} does not exist on this host");
        }

        var othersRemain = work.OtherLiveInitiators.Count > 0;
        if (op.Kind == OperationKind.Detach)
        {
            try
            {
                var run = await exporter.EnsureAccessRemovedAsync(op.VolumeId, work.InitiatorIqn, othersRemain, ct);
                logger.LogInformation("detach {Work}: {Processes} targetcli run(s), {Commands} command(s), {Ms:0} ms",
                    work, run.Processes, run.Commands, run.Elapsed.TotalMilliseconds);
                return new AttachmentOutcome(null);
            }
            catch (TargetException e)
            {
                logger.LogError("detach {Work} failed: {Error}", work, e.Message);
                return new AttachmentOutcome(e.Message);
            }
        }

        if (work.Status == AttachmentStatus.Detaching)
        {
            // A detach was requested while this attach waited: the detach operation runs next.
            return new AttachmentOutcome(null);
        }

        try
        {
            var run = await exporter.EnsureExportedAsync(op.VolumeId, work.InitiatorIqn, work.UserName, work.Secret, forceSave: op.Attempts > 1, ct);
            logger.LogInformation("attach {Work}: {Processes} targetcli run(s), {Commands} command(s), {Ms:0} ms",
                work, run.Processes, run.Commands, run.Elapsed.TotalMilliseconds);
            return new AttachmentOutcome(null, exporter.TargetIqn(op.VolumeId), exporter.AdvertisedPortal, 0);
        }
        catch (TargetException e)
        {
            logger.LogError("attach {Work} failed: {Error}; rolling back", work, e.Message);
            try
            {
                await exporter.EnsureAccessRemovedAsync(op.VolumeId, work.InitiatorIqn, othersRemain, ct);
            }
            catch (TargetException rollback)
            {
                logger.LogError("rollback of {Work} failed too: {Error} (the reconcile pass reports what is left)", work, rollback.Message);
            }

            return new AttachmentOutcome(e.Message);
        }
    }
}
