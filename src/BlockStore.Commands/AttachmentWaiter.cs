using System.Diagnostics;
using System.Management.Automation;
using BlockStore.Core;
using BlockStore.Data;

namespace BlockStore.Commands;

/// <summary>
/// Waits until attachments leave a transitional status (attaching/detaching), with progress.
/// Waiting never changes the request: on timeout the operation goes on.
/// </summary>
internal sealed class AttachmentWaiter(BlockStoreCmdlet cmdlet, AttachmentRequests attachments, CancellationToken ct)
{
    public (List<BlockVolumeAttachment> Done, List<BlockVolumeAttachment> TimedOut) Wait(
        IReadOnlyList<BlockVolumeAttachment> targets, string transitional, int timeoutSec, bool includeSecret, string activity)
    {
        var pending = targets.ToDictionary(a => a.Id);
        var done = new List<BlockVolumeAttachment>();
        var clock = Stopwatch.StartNew();
        var delay = TimeSpan.FromMilliseconds(100);
        var progress = new ProgressRecord(2, activity, "waiting");
        while (pending.Count > 0)
        {
            var current = attachments.ListAsync(new AttachmentFilter(Ids: pending.Keys.ToList(), IncludeSecret: includeSecret), ct).GetAwaiter().GetResult();
            foreach (var a in current.Where(a => a.Status != transitional))
            {
                done.Add(a);
                pending.Remove(a.Id);
            }

            foreach (var a in current.Where(a => a.Status == transitional))
            {
                pending[a.Id] = a;
            }

            if (pending.Count == 0)
            {
                break;
            }

            if (clock.Elapsed.TotalSeconds >= timeoutSec)
            {
                progress.RecordType = ProgressRecordType.Completed;
                cmdlet.WriteProgress(progress);
                return (done, pending.Values.ToList());
            }

            progress.StatusDescription = $"{targets.Count - pending.Count} of {targets.Count} done; {string.Join(", ", pending.Values.Take(3).Select(a => $"{a.InitiatorIqn} ({a.Status})"))}";
            progress.PercentComplete = (int)(100.0 * (targets.Count - pending.Count) / targets.Count);
            cmdlet.WriteProgress(progress);
            Task.Delay(delay, ct).GetAwaiter().GetResult();
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 1.5, 500));
        }

        progress.RecordType = ProgressRecordType.Completed;
        cmdlet.WriteProgress(progress);
        return (done, []);
    }
}
