using System.Diagnostics.Metrics;
using BlockStore.Data;
using BlockStore.Hosting;
using Quartz;

namespace BlockStore.Scheduler;

/// <summary>
/// The scheduler's instruments: placements by result, rejections by reason class, and the queue
/// depth by stage. The gauge reads a cached count that QueueDepthJob refreshes every heartbeat
/// interval, so a scrape never queries the database.
/// </summary>
public sealed class SchedulerMetrics
{
    private static readonly Counter<long> Placements = BlockStoreMetrics.Meter.CreateCounter<long>(
        "placements_total", description: "Create operations the scheduler decided, by result (placed, failed).");

    private static readonly Counter<long> Rejections = BlockStoreMetrics.Meter.CreateCounter<long>(
        "placement_rejections_total",
        description: "Failed placements by reason class (no_hosts, disabled, down, frozen, unhealthy, zone, capacity, capabilities); one per class a failure met.");

    private volatile IReadOnlyDictionary<string, long> _depth = new Dictionary<string, long>();

    public SchedulerMetrics()
    {
        BlockStoreMetrics.Meter.CreateObservableGauge("queue_depth",
            () => _depth.Select(kv => new Measurement<long>(kv.Value, new KeyValuePair<string, object?>("stage", kv.Key))),
            description: "Open operations by stage (pending: waiting for the scheduler; scheduled, running: for an agent), as of the last refresh.");
    }

    public void SetQueueDepth(IReadOnlyDictionary<string, long> depth) => _depth = depth;

    public static void Record(PlacementOutcome outcome)
    {
        if (outcome.Host is not null)
        {
            Placements.Add(1, new KeyValuePair<string, object?>("result", "placed"));
            return;
        }

        Placements.Add(1, new KeyValuePair<string, object?>("result", "failed"));
        foreach (var reason in outcome.RejectionClasses ?? ["other"])
        {
            Rejections.Add(1, new KeyValuePair<string, object?>("reason", reason));
        }
    }
}

/// <summary>Quartz job: refreshes the queue-depth gauge's cached counts; a failure keeps the last counts.</summary>
[DisallowConcurrentExecution]
public sealed class QueueDepthJob(SchedulerQueue queue, SchedulerMetrics metrics, ILogger<QueueDepthJob> logger) : IJob
{
    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        try
        {
            metrics.SetQueueDepth(await queue.QueueDepthAsync(cancellationToken));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogDebug("Queue depth not refreshed: {Message}", e.Message);
        }
    }
}
