namespace BlockStore.Scheduler;

/// <summary>Settings of the scheduler host (section "Scheduler").</summary>
public sealed class SchedulerOptions
{
    public string HostName { get; set; } = Environment.MachineName.ToLowerInvariant();
    public string Zone { get; set; } = "nova";

    /// <summary>Operations placed per transaction: bursts are placed in batches, not one by one.</summary>
    public int BatchSize { get; set; } = 32;
}
