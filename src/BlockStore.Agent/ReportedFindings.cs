namespace BlockStore.Agent;

/// <summary>
/// What a periodic pass (the LV reconcile pass, the leaked-target pass) has already recorded as an
/// event. A finding that lasts until an operator acts would otherwise become an event every pass and
/// bury the history; it is recorded once per agent process, and again should it go away and come back.
/// </summary>
public sealed class ReportedFindings<T> where T : notnull
{
    private readonly HashSet<T> _reported = [];

    /// <summary>True when <paramref name="finding"/> has not been recorded yet.</summary>
    public bool IsNew(T finding) => !_reported.Contains(finding);

    /// <summary>
    /// Marks <paramref name="finding"/> recorded. Called once its event is written, so a finding whose
    /// event failed (the database away) is recorded by the next pass instead of never.
    /// </summary>
    public void Recorded(T finding) => _reported.Add(finding);

    /// <summary>Ends a pass: forgets what it no longer found, so a finding that comes back is new again.</summary>
    public void EndPass(IEnumerable<T> found) => _reported.IntersectWith(found);
}
