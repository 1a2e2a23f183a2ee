using System.Diagnostics;
using System.Management.Automation;

namespace BlockStore.Commands;

/// <summary>
/// The wait loop shared by every -Wait (volumes, attachments): re-read the items still pending,
/// take out those that are done, show progress, sleep with a growing pause, and stop at the
/// timeout. What differs by kind is injected: how to read the items, when one is done, how to
/// name it in the progress line, and how to sleep (a notification listener, or a plain delay).
/// Waiting never changes the request: on timeout or Ctrl+C the operation goes on.
/// </summary>
internal sealed class StatusWaiter<T>(
    BlockStoreCmdlet cmdlet,
    Func<T, Guid> idOf,
    Func<IReadOnlyCollection<Guid>, CancellationToken, Task<List<T>>> read,
    Func<T, string> describe,
    CancellationToken ct)
{
    private static readonly TimeSpan FirstPause = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan LongestPause = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Polls until every item is done (or gone). Returns the items as last seen, in the order they
    /// were asked for (not the order they finished in), and those still pending at the timeout.
    /// <paramref name="sleep"/> returns early when one of the given ids may have changed; null
    /// sleeps the whole pause. <paramref name="targetsAreCurrent"/>: the targets are as their requests
    /// wrote them and <paramref name="sleep"/> is woken by every change since (a LISTEN committed
    /// before or with each request), so the loop sleeps first instead of reading them again at once.
    /// </summary>
    public (List<T> Done, List<T> TimedOut) Wait(IReadOnlyList<T> targets, Func<T, bool> isDone, int timeoutSec, string activity,
        int progressId, Func<IReadOnlyCollection<Guid>, TimeSpan, Task>? sleep = null, bool targetsAreCurrent = false)
    {
        var pending = targets.ToDictionary(idOf);
        var done = new List<T>();
        var clock = Stopwatch.StartNew();
        var pause = FirstPause;
        var progress = new ProgressRecord(progressId, activity, "waiting");
        var readFirst = !targetsAreCurrent;
        while (pending.Count > 0)
        {
            var current = readFirst ? read(pending.Keys.ToList(), ct).GetAwaiter().GetResult() : targets.ToList();
            readFirst = true;
            foreach (var item in current)
            {
                if (isDone(item))
                {
                    done.Add(item);
                    pending.Remove(idOf(item));
                }
                else
                {
                    pending[idOf(item)] = item;
                }
            }

            // An item that disappeared entirely cannot change any more.
            foreach (var missing in pending.Keys.Except(current.Select(idOf)).ToList())
            {
                pending.Remove(missing);
            }

            if (pending.Count == 0)
            {
                break;
            }

            if (clock.Elapsed.TotalSeconds >= timeoutSec)
            {
                Complete(progress);
                return (InRequestOrder(targets, done), InRequestOrder(targets, pending.Values));
            }

            var total = targets.Count;
            progress.StatusDescription = $"{total - pending.Count} of {total} done; waiting for {string.Join(", ", pending.Values.Take(3).Select(describe))}{(pending.Count > 3 ? ", ..." : "")}";
            progress.PercentComplete = (int)(100.0 * (total - pending.Count) / total);
            progress.SecondsRemaining = Math.Max(0, timeoutSec - (int)clock.Elapsed.TotalSeconds);
            cmdlet.WriteProgress(progress);
            var left = TimeSpan.FromSeconds(timeoutSec) - clock.Elapsed;
            var nap = left < pause ? (left > TimeSpan.Zero ? left : TimeSpan.Zero) : pause;
            (sleep is null ? Task.Delay(nap, ct) : sleep(pending.Keys, nap)).GetAwaiter().GetResult();
            pause = TimeSpan.FromMilliseconds(Math.Min(pause.TotalMilliseconds * 1.5, LongestPause.TotalMilliseconds));
        }

        Complete(progress);
        return (InRequestOrder(targets, done), []);
    }

    private void Complete(ProgressRecord progress)
    {
        progress.RecordType = ProgressRecordType.Completed;
        cmdlet.WriteProgress(progress);
    }

    private List<T> InRequestOrder(IReadOnlyList<T> targets, IEnumerable<T> found)
    {
        var byId = found.ToDictionary(idOf);
        return targets.Where(t => byId.ContainsKey(idOf(t))).Select(t => byId[idOf(t)]).ToList();
    }
}
