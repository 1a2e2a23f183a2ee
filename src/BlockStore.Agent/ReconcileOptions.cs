namespace BlockStore.Agent;

/// <summary>The LV reconcile pass (section "Agent:Reconcile"): at agent start, then periodically.</summary>
public sealed class ReconcileOptions
{
    /// <summary>
    /// Seconds between two passes after the one at start (Cinder users run such audits hourly;
    /// a pass costs two `lvs` and two small queries). At least 5.
    /// </summary>
    public int IntervalSeconds { get; set; } = 300;

    /// <summary>
    /// false: an LV of a deleted volume is reported only; true: it is removed too. LVs without a
    /// volume row, of another host's volume, and every LV not named volume-&lt;uuid&gt; are never
    /// removed, whatever this says.
    /// </summary>
    public bool RemoveOrphans { get; set; }
}
