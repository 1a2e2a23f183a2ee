using BlockStore.Data;
using BlockStore.Hosting;
using Microsoft.Extensions.Options;

namespace BlockStore.Scheduler;

/// <summary>
/// The scheduler's loop: sleep until woken (a notification, or the fallback poll), then place
/// pending operations batch by batch until none are left. A disabled scheduler claims nothing;
/// queued requests wait for an enabled scheduler and are never lost.
/// </summary>
public sealed class PlacementWorker(
    SchedulerQueue queue,
    ServiceIdentity identity,
    ServiceRuntime lifetime,
    WorkSignal signal,
    IOptions<SchedulerOptions> options,
    ILogger<PlacementWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        await lifetime.Registered.WaitAsync(ct);
        var wasDisabled = false;
        while (!ct.IsCancellationRequested)
        {
            await signal.WaitAsync(TimeSpan.FromSeconds(30), ct);
            try
            {
                if (!await queue.IsEnabledAsync(identity.Host, ct))
                {
                    if (!wasDisabled)
                    {
                        logger.LogWarning("Scheduler service is disabled: not placing requests until it is enabled");
                    }

                    wasDisabled = true;
                    continue;
                }

                if (wasDisabled)
                {
                    logger.LogInformation("Scheduler service enabled again: placing queued requests");
                    wasDisabled = false;
                }

                await DrainAsync(ct);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning("Placement pass failed ({Message}); the next wake-up retries", e.Message);
            }
        }
    }

    private async Task DrainAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var outcomes = await queue.PlaceBatchAsync(identity.Host, options.Value.BatchSize, ct);
            foreach (var o in outcomes)
            {
                SchedulerMetrics.Record(o);
                if (o.Host is null)
                {
                    logger.LogWarning("Volume {Volume} not placed: {Reason}", o.VolumeId, o.Reason);
                }
                else
                {
                    logger.LogDebug("Volume {Volume} placed on {Host}", o.VolumeId, o.Host);
                }
            }

            if (outcomes.Count < options.Value.BatchSize)
            {
                return;
            }
        }
    }
}
