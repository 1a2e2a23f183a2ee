using System.Management.Automation;

namespace BlockStore.Commands;

/// <summary>
/// What a cmdlet with -Wait has requested, and the report once it has waited: shared by
/// New-/Remove-BlockVolume, New-/Remove-BlockVolumeAttachment and Wait-BlockVolume. The items are
/// collected over the whole pipeline and waited for together in EndProcessing, so a batch takes as
/// long as its slowest item, not the sum. The cmdlet keeps its messages and ErrorIds: it says how
/// to wait, when a finished item failed, and what a timeout says; this only writes them in order.
/// </summary>
internal sealed class RequestedItems<T>(BlockStoreCmdlet cmdlet)
{
    private readonly List<T> _toWaitFor = [];

    public IReadOnlyList<T> Items => _toWaitFor;

    /// <summary>Keeps <paramref name="item"/> to wait for it, or else writes it when <paramref name="write"/>.</summary>
    public void Add(T item, bool wait, bool write)
    {
        if (wait)
        {
            _toWaitFor.Add(item);
        }
        else if (write)
        {
            cmdlet.WriteObject(item);
        }
    }

    /// <summary>
    /// Waits for the kept items (nothing when none), then in request order writes, for each finished
    /// one, the error <paramref name="failure"/> makes of it or else the item itself when
    /// <paramref name="write"/>, and for each one still pending the error <paramref name="timedOut"/>
    /// makes: the request goes on, so a timeout is an error per item, not the end of the command.
    /// </summary>
    public void WaitAndReport(Func<IReadOnlyList<T>, (List<T> Done, List<T> TimedOut)> waitFor, Func<T, ErrorRecord?> failure,
        bool write, Func<T, ErrorRecord> timedOut)
    {
        if (_toWaitFor.Count == 0)
        {
            return;
        }

        // A store failure during the wait (PostgreSQL gone) ends the command with its catalogue ErrorId
        // (StoreUnavailable), as anywhere else; it used to escape EndProcessing as a bare exception.
        var (done, pending) = cmdlet.Terminating(() => waitFor(_toWaitFor));
        foreach (var item in done)
        {
            if (failure(item) is { } error)
            {
                cmdlet.WriteError(error);
            }
            else if (write)
            {
                cmdlet.WriteObject(item);
            }
        }

        foreach (var item in pending)
        {
            cmdlet.WriteError(timedOut(item));
        }
    }
}
