using BlockStore.Data;
using Microsoft.Extensions.Logging;
using Quartz;

namespace BlockStore.Hosting;

/// <summary>Reports what a volume host has; agents register one, schedulers do not.</summary>
public interface ICapacityReporter
{
    Task<CapacityReport> ReportAsync(CancellationToken ct);
}

/// <summary>
/// Quartz job: one heartbeat (with capacity for volume services). A failed heartbeat is logged
/// and the next trigger tries again; the database decides up/down from the last one that landed.
/// A heartbeat that landed, with a healthy report, also feeds systemd's watchdog (SystemdWatchdog).
/// Each result also goes to HostHealth (/healthz, the heartbeat gauges) and the failure counters.
/// </summary>
[DisallowConcurrentExecution]
public sealed class HeartbeatJob(ServiceRegistry registry, ServiceIdentity identity, ILogger<HeartbeatJob> logger,
    SystemdWatchdog watchdog, HostHealth health, ICapacityReporter? capacity = null) : IJob
{
    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        CapacityReport? report = null;
        try
        {
            report = capacity is null ? null : await capacity.ReportAsync(cancellationToken);
            await registry.HeartbeatAsync(identity.Host, identity.Service, report, cancellationToken);
            logger.LogTrace("Heartbeat sent{Capacity}", report is null ? "" : $": {report.FreeGiB}/{report.TotalGiB} GiB free, healthy={report.Healthy}");
            if (health.RecordHeartbeat(true, null, report))
            {
                BlockStoreMetrics.DatabaseReconnects.Add(1, new KeyValuePair<string, object?>("via", "heartbeat"));
            }

            watchdog.Alive(report, logger);
        }
        catch (Exception e)
        {
            logger.LogWarning("Heartbeat failed: {Message}", e.Message);
            health.RecordHeartbeat(false, e.Message, report);
            BlockStoreMetrics.DatabaseFailures.Add(1, new KeyValuePair<string, object?>("via", "heartbeat"));
        }
    }
}

/// <summary>Quartz job: the fallback poll. Wakes the worker in case a notification was missed.</summary>
[DisallowConcurrentExecution]
public sealed class WakeJob(WorkSignal signal) : IJob
{
    public ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        signal.Set();
        return ValueTask.CompletedTask;
    }
}
