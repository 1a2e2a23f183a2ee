using BlockStore.Hosting;
using Quartz;

namespace BlockStore.Agent;

/// <summary>
/// Quartz job: the periodic LV reconcile pass (the first pass runs at agent start, in AgentWorker).
/// A failed pass is logged and the next trigger tries again.
/// </summary>
[DisallowConcurrentExecution]
public sealed class LvReconcileJob(Reconciler reconciler, ServiceRuntime runtime, ILogger<LvReconcileJob> logger) : IJob
{
    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        if (!runtime.Registered.IsCompletedSuccessfully)
        {
            return; // not registered yet: the start pass comes first
        }

        try
        {
            var result = await reconciler.RunAsync(cancellationToken);
            var level = result.Removed + result.Reported > 0 ? LogLevel.Information : LogLevel.Debug;
            logger.Log(level, "Periodic reconcile: {Checked} volume LV(s), {Removed} orphan(s) removed, {Reported} new mismatch(es) reported",
                result.Checked, result.Removed, result.Reported);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning("Periodic reconcile pass failed ({Message}); the next one retries", e.Message);
        }
    }
}
