namespace BlockStore.Scheduler;

/// <summary>Settings of the scheduler host (section "Scheduler").</summary>
public sealed class SchedulerOptions
{
    public string HostName { get; set; } = Environment.MachineName.ToLowerInvariant();
    public string Zone { get; set; } = "nova";

    /// <summary>
    /// Operations placed per transaction: bursts are placed in batches, not one by one. Each batch
    /// reads every volume host once (about 30 ms of scheduler CPU for 1,000 hosts on the bench
    /// machine), so a larger batch spreads that over more placements: 256 placed 3x as many per
    /// second as 32 with 1,000 hosts (tests/bench/Scale.Bench.ps1, docs/benchmarks.md). A lone
    /// request is placed at once whatever the size (a batch takes what is pending).
    /// </summary>
    public int BatchSize { get; set; } = 256;
}
