namespace BlockStore.Scheduler;

/// <summary>Settings of the scheduler host (section "Scheduler").</summary>
public sealed class SchedulerOptions
{
    public string HostName { get; set; } = Environment.MachineName.ToLowerInvariant();
    public string Zone { get; set; } = "nova";

    /// <summary>
    /// Operations placed per transaction: bursts are placed in batches, not one by one. A batch that
    /// reads every volume host (about 30 ms of scheduler CPU for 1,000 hosts on the bench machine;
    /// see HostCacheSeconds) spreads that over more placements: 256 placed 3x as many per second as
    /// 32 with 1,000 hosts (tests/bench/Scale.Bench.ps1, docs/benchmarks.md). A lone request is
    /// placed at once whatever the size (a batch takes what is pending).
    /// </summary>
    public int BatchSize { get; set; } = 256;

    /// <summary>
    /// How long a batch may plan with the volume hosts as an earlier batch read them, in seconds
    /// (0: read every host in every batch, as before). Every host a plan uses is still locked and
    /// read again before anything is written, and a request fails only on a fresh read of every
    /// host (SchedulerQueue.HostCacheMaxAge); any registration, operator change, or host going down,
    /// up or unhealthy drops the copy at once. Past half this age, and while requests keep coming
    /// (a copy up to three times this age), the scheduler reads the hosts again between them
    /// (SchedulerQueue.RefreshHostCopyAsync).
    /// </summary>
    public double HostCacheSeconds { get; set; } = 1;

    /// <summary>
    /// Break ties among (nearly) equally free volume hosts in this scheduler's own order, seeded by
    /// HostName (Core's PlacementSpread), so that two schedulers do not plan onto the same hosts and
    /// find each other's ledger rows locked. Off by default (ties by host name): measured side by
    /// side with 1,000 hosts it showed no consistent gain for two schedulers over three runs
    /// (tests/bench/SchedulerSpread.Bench.ps1, docs/benchmarks.md, issue 11).
    /// </summary>
    public bool SpreadTies { get; set; }

    /// <summary>
    /// With SpreadTies, hosts whose free space is in the same band, this percentage of the host's
    /// capacity (thick: the VG; thin: the over-subscribed capacity), count as equally free; a host
    /// freer by more than the band still wins, but hosts may end as far apart as the band (plus a
    /// volume) instead of within one volume. 0 (the default): only exact ties, so the weigher stays
    /// most-free-first.
    /// </summary>
    public double SpreadBandPercent { get; set; }

    /// <summary>
    /// With several schedulers, one answers each request at once (chosen by its operation id among
    /// the schedulers up and enabled: Core's FirstResponder) and the others place it only if it is
    /// still pending this many milliseconds later: the bound on what a request waits when the
    /// scheduler that should answer it has just died or stopped. Every scheduler used to answer
    /// every request at once, and the ones that found nothing ran beside the one that placed:
    /// 2-3.5 ms more per request on 2 cores (docs/benchmarks.md, issue 11). 0: every scheduler
    /// answers every request at once, as before.
    /// </summary>
    public int BackupDelayMilliseconds { get; set; } = 500;

    /// <summary>How often, at most, the scheduler reads which schedulers are up and enabled, in seconds (between passes).</summary>
    public double SchedulersReadSeconds { get; set; } = 2;
}
