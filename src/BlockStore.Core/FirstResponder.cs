namespace BlockStore.Core;

/// <summary>
/// Which scheduler answers a request's notification at once. Every scheduler LISTENs on the same
/// channel, so every request woke all of them, and all but one found nothing to place: on the
/// bench machine's 2 cores that idle pass ran beside the one that placed, and the request waited
/// 2-3.5 ms longer (measured with the other scheduler running and stopped, docs/benchmarks.md,
/// issue 11). Now one scheduler, chosen by the operation's id among the schedulers that are up
/// and enabled, answers at once; the others step in after a short backup delay if the request is
/// still pending then, so a request never waits on one scheduler alone: correctness still rests
/// on the claim (FOR UPDATE SKIP LOCKED), not on this choice. Each scheduler reads the list
/// itself, so for a moment after one is enabled, disabled or goes down two lists can differ: a
/// request may then have two first responders (both answer at once, as before) or none (the
/// backup delay covers it).
/// </summary>
public static class FirstResponder
{
    /// <summary>
    /// Whether <paramref name="self"/> answers the notification with <paramref name="payload"/> at
    /// once. A payload that is not an operation id (an enabled scheduler's "0", a hand-sent
    /// NOTIFY) or an empty list of schedulers (not read yet): every scheduler does, as before. A
    /// scheduler missing from the list (disabled, or not yet seen up) answers no request first.
    /// Otherwise a hash of the operation's id picks one of the listed schedulers in name order, so
    /// requests are shared evenly between them whatever the order of the operations' kinds.
    /// </summary>
    public static bool IsFirst(string payload, IReadOnlyList<string> schedulers, string self)
    {
        if (!IsOperationId(payload, out var operationId) || schedulers.Count == 0)
        {
            return true;
        }

        if (!schedulers.Contains(self))
        {
            return false;
        }

        var ordered = schedulers.Order(StringComparer.Ordinal).ToArray();
        return ordered[(int)(Mix((ulong)operationId) % (ulong)ordered.Length)] == self;
    }

    // The id mixed (splitmix64's finaliser) before it picks: ids are consecutive across every kind
    // of operation, so a plain modulo gave every create to one scheduler when each create was
    // followed by a delete (create, delete, create, ... take alternate ids).
    private static ulong Mix(ulong x)
    {
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9UL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebUL;
        return x ^ (x >> 31);
    }

    private static bool IsOperationId(string payload, out long id) =>
        long.TryParse(payload, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out id) && id > 0;
}
