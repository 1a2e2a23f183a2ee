namespace BlockStore.Core;

/// <summary>
/// What woke a scheduler's placement worker since its last pass, as <see cref="FirstResponder"/>
/// sorts it: something it answers at once (a request of its own, or any wake-up that is not a
/// request: the fallback poll, an enabled scheduler, a restored connection), or only requests
/// another scheduler answers first, which it leaves to that scheduler for the backup delay.
/// Written by the notification listener's thread, read by the worker.
/// </summary>
public sealed class SchedulerWakeups
{
    // Who this scheduler is and which schedulers are up and enabled, swapped as one (null: not
    // known yet, so every request is answered at once).
    private volatile Responders? responders;
    private int own;
    private int others;

    private sealed record Responders(string Self, IReadOnlyList<string> Schedulers);

    /// <summary>
    /// This scheduler's name (its service identity) and the schedulers that are up and enabled, as
    /// last read (empty: not read, every request answered at once).
    /// </summary>
    public void Know(string self, IReadOnlyList<string> schedulers) => responders = new Responders(self, schedulers);

    /// <summary>Notes a notification's payload; the worker is woken for every one (true).</summary>
    public bool Accept(string payload)
    {
        var known = responders;
        if (known is null || FirstResponder.IsFirst(payload, known.Schedulers, known.Self))
        {
            Volatile.Write(ref own, 1);
        }
        else
        {
            Volatile.Write(ref others, 1);
        }

        return true;
    }

    /// <summary>
    /// True when every notification since <see cref="Reset"/> was a request another scheduler
    /// answers first (and there was at least one). A wake-up that came without a notification
    /// (the fallback poll) notes nothing, so it alone reads false: the worker places at once.
    /// </summary>
    public bool OnlyOthers => Volatile.Read(ref others) == 1 && Volatile.Read(ref own) == 0;

    /// <summary>Forgets what came before the pass that is about to start.</summary>
    public void Reset()
    {
        Volatile.Write(ref own, 0);
        Volatile.Write(ref others, 0);
    }
}
