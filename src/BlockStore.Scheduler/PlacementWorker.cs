using System.Diagnostics;
using BlockStore.Core;
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
    ServiceRegistry registry,
    SchedulerWakeups wakeups,
    ServiceIdentity identity,
    ServiceRuntime lifetime,
    WorkSignal signal,
    IOptions<SchedulerOptions> options,
    ILogger<PlacementWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        await lifetime.Registered.WaitAsync(ct);
        while (!ct.IsCancellationRequested)
        {
            await signal.WaitAsync(TimeSpan.FromSeconds(30), ct);
            await LeaveToFirstResponderAsync(ct);
            // What woke the worker from here on is for the next pass (the signal stays set).
            wakeups.Reset();
            try
            {
                await DrainAsync(ct);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning("Placement pass failed ({Message}); the next wake-up retries", e.Message);
            }

            await ReadSchedulersAsync(ct);

            try
            {
                // While nothing waits for this scheduler: the next request then plans with a
                // fresh copy of the hosts instead of reading them all on its way.
                await queue.RefreshHostCopyAsync(ct);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogDebug("Copy of the hosts not refreshed ({Message}); the next pass reads them", e.Message);
            }
        }
    }

    /// <summary>
    /// When only requests another scheduler answers first woke this one (FirstResponder), waits up
    /// to the backup delay before its pass: the other has placed them by then, and this pass, which
    /// then finds nothing, no longer runs beside the other's on the request's way. A wake-up of its
    /// own meanwhile ends the wait; a request still pending afterwards is placed here.
    /// </summary>
    private async Task LeaveToFirstResponderAsync(CancellationToken ct)
    {
        var delay = TimeSpan.FromMilliseconds(Math.Max(0, options.Value.BackupDelayMilliseconds));
        var start = Stopwatch.GetTimestamp();
        while (wakeups.OnlyOthers)
        {
            var left = delay - Stopwatch.GetElapsedTime(start);
            if (left <= TimeSpan.Zero)
            {
                return;
            }

            await signal.WaitAsync(left, ct);
        }
    }

    private long schedulersReadAt;

    /// <summary>
    /// Reads which schedulers are up and enabled, at most every SchedulersReadSeconds, between
    /// passes (the fallback poll wakes an idle scheduler, so the list is never much older). With
    /// the backup delay at 0 nothing is read, and every scheduler answers every request at once.
    /// </summary>
    private async Task ReadSchedulersAsync(CancellationToken ct)
    {
        if (options.Value.BackupDelayMilliseconds <= 0
            || Stopwatch.GetElapsedTime(schedulersReadAt) < TimeSpan.FromSeconds(options.Value.SchedulersReadSeconds))
        {
            return;
        }

        try
        {
            wakeups.Know(identity.Host, await registry.RunningSchedulersAsync(ct));
            schedulersReadAt = Stopwatch.GetTimestamp();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Not read: every scheduler answers every request at once until it is.
            wakeups.Know(identity.Host, []);
            logger.LogDebug("Schedulers not read ({Message}); answering every request at once", e.Message);
        }
    }

    // Whether the last batch found this scheduler disabled: the warning is logged once per disable.
    private bool wasDisabled;

    /// <summary>
    /// Places batch after batch until one comes back short. Each batch reads this scheduler's
    /// enabled flag in its own first round trip (SchedulerQueue.PlaceBatchCheckedAsync), so a
    /// wake-up costs no separate read of the flag: a disabled scheduler's batch claims nothing and
    /// says so, and the worker goes back to sleep.
    /// </summary>
    private async Task DrainAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var batch = await queue.PlaceBatchCheckedAsync(identity.Host, options.Value.BatchSize, ct);
            if (!batch.SchedulerEnabled)
            {
                if (!wasDisabled)
                {
                    logger.LogWarning("Scheduler service is disabled: not placing requests until it is enabled");
                }

                wasDisabled = true;
                return;
            }

            if (wasDisabled)
            {
                logger.LogInformation("Scheduler service enabled again: placing queued requests");
                wasDisabled = false;
            }

            foreach (var o in batch.Outcomes)
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

            if (batch.Outcomes.Count < options.Value.BatchSize)
            {
                return;
            }
        }
    }
}
