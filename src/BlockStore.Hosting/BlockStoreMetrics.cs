using System.Diagnostics.Metrics;

namespace BlockStore.Hosting;

/// <summary>
/// The meter "BlockStore" and the instruments both hosts share. Instrument names are in Prometheus
/// style (snake case, unit suffix, _total on counters) without the "blockstore_" prefix: the
/// exporter (prometheus-net's MeterAdapter) puts the meter's name in front, so the exposition shows
/// blockstore_ + the name written here (docs/operations.md lists them so). Host-specific instruments
/// (operations, placements, commands) are created on the same meter by the host that records them.
/// </summary>
public static class BlockStoreMetrics
{
    public const string MeterName = "BlockStore";

    public static readonly Meter Meter = new(MeterName);

    /// <summary>Latency buckets (seconds) from 10 ms to 10 minutes: an lvcreate is sub-second, a queued create can wait minutes.</summary>
    public static readonly double[] LatencyBuckets = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

    /// <summary>via: heartbeat (a heartbeat failed) or notifications (the LISTEN connection dropped).</summary>
    public static readonly Counter<long> DatabaseFailures =
        Meter.CreateCounter<long>("database_failures_total", description: "Times this host lost the database: a failed heartbeat, or the notification connection dropped.");

    /// <summary>via: heartbeat (one landed after failures) or notifications (the LISTEN connection is back).</summary>
    public static readonly Counter<long> DatabaseReconnects =
        Meter.CreateCounter<long>("database_reconnects_total", description: "Times this host reached the database again after losing it.");
}
