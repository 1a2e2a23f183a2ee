using System.Diagnostics;
using System.Management.Automation;
using BlockStore.Core;
using BlockStore.Data;

namespace BlockStore.Commands;

/// <summary>
/// Waits for volumes to reach a status, showing progress. Shared by Wait-BlockVolume and the
/// -Wait switch of New-/Remove-BlockVolume. Waiting never changes the request: on timeout or
/// Ctrl+C the volume goes on, and the caller can wait again.
/// </summary>
internal sealed class VolumeWaiter(BlockStoreCmdlet cmdlet, VolumeRequests volumes, CancellationToken ct)
{
    /// <summary>
    /// Polls until each volume is in one of <paramref name="statuses"/> (or any final status when
    /// null). Returns the volumes as last seen and the ids that timed out.
    /// </summary>
    public (List<BlockVolume> Done, List<BlockVolume> TimedOut) Wait(IReadOnlyList<BlockVolume> targets, IReadOnlyCollection<string>? statuses, int timeoutSec, string activity)
    {
        var listener = TryListen();
        try
        {
            return Wait(targets, statuses, timeoutSec, activity, listener);
        }
        finally
        {
            listener?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>Results in the order the volumes were asked for, not the order they finished in.</summary>
    private static List<BlockVolume> InRequestOrder(IReadOnlyList<BlockVolume> targets, IEnumerable<BlockVolume> found)
    {
        var byId = found.ToDictionary(v => v.Id);
        return targets.Where(t => byId.ContainsKey(t.Id)).Select(t => byId[t.Id]).ToList();
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

    private (List<BlockVolume> Done, List<BlockVolume> TimedOut) Wait(IReadOnlyList<BlockVolume> targets, IReadOnlyCollection<string>? statuses,
        int timeoutSec, string activity, VolumeStatusListener? listener)
    {
        var pending = targets.ToDictionary(v => v.Id);
        var done = new List<BlockVolume>();
        var clock = Stopwatch.StartNew();
        var delay = TimeSpan.FromMilliseconds(50);
        var progress = new ProgressRecord(1, activity, "waiting");
        while (pending.Count > 0)
        {
            var current = volumes.ListAsync(new VolumeFilter(Ids: pending.Keys.ToList(), IncludeDeleted: true), ct).GetAwaiter().GetResult();
            foreach (var v in current)
            {
                var reached = statuses is null ? VolumeStatus.IsFinal(v.Status) : statuses.Contains(v.Status);
                // A volume that fails while we wait for something else will never get there.
                var stuck = statuses is not null && !reached && VolumeStatus.IsFinal(v.Status) && v.Status != VolumeStatus.Available;
                if (reached || stuck)
                {
                    done.Add(v);
                    pending.Remove(v.Id);
                }
                else
                {
                    pending[v.Id] = v;
                }
            }

            // A volume that disappeared entirely cannot change any more.
            foreach (var missing in pending.Keys.Except(current.Select(v => v.Id)).ToList())
            {
                pending.Remove(missing);
            }

            if (pending.Count == 0)
            {
                break;
            }

            if (clock.Elapsed.TotalSeconds >= timeoutSec)
            {
                progress.RecordType = ProgressRecordType.Completed;
                cmdlet.WriteProgress(progress);
                return (InRequestOrder(targets, done), InRequestOrder(targets, pending.Values));
            }

            var total = targets.Count;
            progress.StatusDescription = $"{total - pending.Count} of {total} done; waiting for {string.Join(", ", pending.Values.Take(3).Select(v => $"{v.Name} ({v.Status})"))}{(pending.Count > 3 ? ", ..." : "")}";
            progress.PercentComplete = (int)(100.0 * (total - pending.Count) / total);
            progress.SecondsRemaining = Math.Max(0, timeoutSec - (int)clock.Elapsed.TotalSeconds);
            cmdlet.WriteProgress(progress);
            // Sleep until a volume we wait for is signalled, or the poll interval passes (the poll
            // covers statuses nobody signals, such as deleting, and missed notifications).
            var left = TimeSpan.FromSeconds(timeoutSec) - clock.Elapsed;
            var nap = left < delay ? (left > TimeSpan.Zero ? left : TimeSpan.Zero) : delay;
            if (listener is null)
            {
                Task.Delay(nap, ct).GetAwaiter().GetResult();
            }
            else
            {
                listener.WaitAsync(pending.Keys, nap, ct).GetAwaiter().GetResult();
            }

            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 1.5, 500));
        }

        progress.RecordType = ProgressRecordType.Completed;
        cmdlet.WriteProgress(progress);
        return (InRequestOrder(targets, done), []);
    }
}
