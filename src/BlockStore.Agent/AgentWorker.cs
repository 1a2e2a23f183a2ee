using BlockStore.Core;
using BlockStore.Data;
using BlockStore.Hosting;
using Microsoft.Extensions.Options;

namespace BlockStore.Agent;

/// <summary>
/// The agent's loop: on start, take back operations a previous process of this host left
/// running; then sleep until woken, claim this host's operations, run each under a renewed lease,
/// and write the final status. LVM failures are final (the volume goes to error with LVM's
/// message); database failures are not: the operation stays claimed and is retried after its
/// lease runs out, which is safe because every step is idempotent.
/// </summary>
public sealed class AgentWorker(
    AgentQueue queue,
    VolumeBackend backend,
    Reconciler reconciler,
    AttachmentRunner attachmentRunner,
    VolumeExporter exporter,
    ServiceIdentity identity,
    ServiceRuntime runtime,
    WorkSignal signal,
    IOptions<AgentOptions> options,
    ILogger<AgentWorker> logger) : BackgroundService
{
    private TimeSpan Lease => TimeSpan.FromSeconds(options.Value.LeaseSeconds);

    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        await runtime.Registered.WaitAsync(ct);
        await RecoverAsync(ct);
        await ReconcileAsync(ct);
        while (!ct.IsCancellationRequested)
        {
            await signal.WaitAsync(TimeSpan.FromSeconds(30), ct);
            try
            {
                while (!ct.IsCancellationRequested)
                {
                    var claimed = await queue.ClaimAsync(identity.InstanceId, Lease, options.Value.ClaimBatch, ct);
                    if (claimed.Count == 0)
                    {
                        break;
                    }

                    foreach (var op in claimed)
                    {
                        await RunAsync(op, ct);
                    }
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning("Agent pass failed ({Message}); the next wake-up retries", e.Message);
            }
        }
    }

    private async Task RecoverAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var n = await queue.RecoverAsync(identity.InstanceId, ct);
                if (n > 0)
                {
                    logger.LogWarning("Took up {Count} operation(s) left running by a previous agent process", n);
                }

                return;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning("Recovery pass failed ({Message}); retrying", e.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), ct);
            }
        }
    }

    /// <summary>One reconcile pass at start; a failure is logged and does not stop the agent.</summary>
    private async Task ReconcileAsync(CancellationToken ct)
    {
        try
        {
            var result = await reconciler.RunAsync(ct);
            logger.LogInformation("Reconciled {Checked} volume LV(s): {Removed} orphan(s) removed, {Reported} mismatch(es) reported",
                result.Checked, result.Removed, result.Reported);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning("Reconcile pass failed: {Message}", e.Message);
        }
    }

    private async Task RunAsync(ClaimedOperation op, CancellationToken ct)
    {
        using var renewal = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var renewTask = RenewLeaseAsync(op, renewal.Token);
        if (op.Kind is OperationKind.Attach or OperationKind.Detach)
        {
            try
            {
                await attachmentRunner.RunAsync(identity.InstanceId, op, ct);
            }
            finally
            {
                await renewal.CancelAsync();
                await renewTask;
            }

            return;
        }

        string? error = null;
        string? note = null;
        try
        {
            if (op.Kind == OperationKind.Delete)
            {
                // An exported LV cannot be removed: take down its target first (a no-op when none).
                await exporter.EnsureUnexportedAsync(op.VolumeId, ct);
            }

            note = op.Kind == OperationKind.Create
                ? await backend.EnsureCreatedAsync(op.VolumeId, op.SizeGiB, ct)
                : await backend.EnsureDeletedAsync(op.VolumeId, ct);
            logger.LogInformation("{Kind} volume {Volume}: {Note}", op.Kind, op.VolumeId, note);
        }
        catch (TargetException e)
        {
            error = e.Message;
            logger.LogError("{Kind} volume {Volume} failed: {Error}", op.Kind, op.VolumeId, e.Message);
        }
        catch (LvmException e)
        {
            error = e.Message;
            logger.LogError("{Kind} volume {Volume} failed: {Error}", op.Kind, op.VolumeId, e.Message);
        }
        finally
        {
            await renewal.CancelAsync();
            await renewTask;
        }

        await CompleteAsync(op, error, note, ct);
    }

    /// <summary>
    /// Records the outcome, waiting out a database outage: the LVM work is done, so giving up
    /// here would leave the operation running until its lease expires and make a later claim
    /// run it a second time. Only this process holds the lease, so it can keep trying.
    /// </summary>
    private async Task CompleteAsync(ClaimedOperation op, string? error, string? note, CancellationToken ct)
    {
        var delay = TimeSpan.FromMilliseconds(200);
        while (true)
        {
            try
            {
                if (!await queue.CompleteAsync(identity.InstanceId, op, error, note, ct))
                {
                    logger.LogWarning("Lost the lease on operation {Op} before completing it; the newer claim finishes it", op.Id);
                }

                return;
            }
            catch (BlockStoreException e) when (e.ErrorId == ErrorIds.StoreUnavailable)
            {
                logger.LogWarning("Cannot record the outcome of operation {Op} yet ({Message}); retrying in {Delay} s",
                    op.Id, e.Message, delay.TotalSeconds);
                await Task.Delay(delay, ct);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }
    }

    private async Task RenewLeaseAsync(ClaimedOperation op, CancellationToken ct)
    {
        try
        {
            while (true)
            {
                await Task.Delay(Lease / 3, ct);
                try
                {
                    await queue.RenewLeaseAsync(identity.InstanceId, [op.Id], Lease, ct);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    logger.LogWarning("Lease renewal for operation {Op} failed: {Message}", op.Id, e.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // the operation finished
        }
    }
}
