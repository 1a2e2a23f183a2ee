using System.Diagnostics;
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
/// lease runs out, which is safe because every step is idempotent. Any other failure (issue 17:
/// the lvm binary missing, an unreadable report, an I/O error) is an attempt: given back to the
/// queue with backoff (RetryPolicy), and after the last allowed attempt the volume or attachment
/// ends in error with the reason, never claimed again and again.
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

    /// <summary>The retry policy of an operation kind: its own attempt limit if configured, else MaxAttempts.</summary>
    private RetryPolicy RetryFor(string kind) =>
        new(options.Value.MaxAttemptsByKind.TryGetValue(kind, out var max) ? max : options.Value.MaxAttempts,
            options.Value.RetryBaseSeconds, options.Value.RetryMaxSeconds);

    /// <summary>Failures that are attempts: not a shutdown, not the database away (the lease covers that).</summary>
    private static bool IsAttemptFailure(Exception e) =>
        e is not OperationCanceledException && !(e is BlockStoreException b && b.ErrorId == ErrorIds.StoreUnavailable);

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

    private Task RecoverAsync(CancellationToken ct) =>
        TransientRetry.UntilDoneAsync(async () =>
        {
            var n = await queue.RecoverAsync(identity.InstanceId, ct);
            if (n > 0)
            {
                logger.LogWarning("Took up {Count} operation(s) left running by a previous agent process", n);
            }

            // Said at every start, so a host whose LVM changed (device-mapper now there) is asked accordingly.
            var (snapshots, why) = backend.SnapshotSupport();
            await queue.ReportSnapshotCapabilityAsync(snapshots, why, ct);
            var (copy, whyNot) = backend.BlockCopySupport();
            await queue.ReportBlockCopyCapabilityAsync(copy, whyNot, ct);
            await queue.ReportDeclaredCapabilitiesAsync(DeclaredCapabilities(), ct);
            if (!snapshots)
            {
                logger.LogInformation("Snapshots unavailable on this host: {Reason}", why);
            }

            if (!copy)
            {
                logger.LogInformation("Block copy (thick volumes from snapshots, thick clones) unavailable on this host: {Reason}", whyNot);
            }
        },
        e => e is not OperationCanceledException,
        (e, _) => logger.LogWarning("Recovery pass failed ({Message}); retrying", e.Message),
        TransientRetry.RecoveryPass, ct);

    /// <summary>
    /// The configuration's capabilities for volume types; volume_backend_name defaults to "LVM", as
    /// Cinder's LVM driver reports it. A declared key the agent measures itself is ignored, with a warning.
    /// </summary>
    private Dictionary<string, string> DeclaredCapabilities()
    {
        var declared = new Dictionary<string, string>(options.Value.Capabilities, StringComparer.Ordinal);
        declared.TryAdd("volume_backend_name", "LVM");
        foreach (var key in declared.Keys.Where(ExtraSpecMatcher.MeasuredCapabilities.Contains).ToList())
        {
            logger.LogWarning("Agent:Capabilities:{Key} is ignored: the agent measures {Key} itself", key, key);
            declared.Remove(key);
        }

        return declared;
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

    /// <summary>Runs one claimed operation and counts its outcome (AgentMetrics: status and latency).</summary>
    private async Task RunAsync(ClaimedOperation op, CancellationToken ct)
    {
        AgentMetrics.Claimed(op);
        var started = Stopwatch.GetTimestamp();
        var status = await RunOneAsync(op, ct);
        AgentMetrics.Finished(op, status, Stopwatch.GetElapsedTime(started));
    }

    /// <summary>Returns the status for the operations counter: succeeded, failed, or retried.</summary>
    private async Task<string> RunOneAsync(ClaimedOperation op, CancellationToken ct)
    {
        var attachment = op.Kind is OperationKind.Attach or OperationKind.Detach;
        if (RetryFor(op.Kind).IsExhausted(op.Attempts))
        {
            // Claimed more often than allowed: every earlier attempt ended without any result.
            logger.LogError("{Kind} of volume {Volume}: {Message}", op.Kind, op.VolumeId, GaveUpMessage(op));
            await (attachment ? attachmentRunner.FailAsync(identity.InstanceId, op, GaveUpMessage(op), ct) : CompleteAsync(op, GaveUpMessage(op), null, ct));
            return AgentMetrics.Failed;
        }

        using var renewal = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var renewTask = RenewLeaseAsync(op, renewal.Token);
        if (attachment)
        {
            Exception? failed = null;
            var succeeded = false;
            try
            {
                succeeded = await attachmentRunner.RunAsync(identity.InstanceId, op, ct);
            }
            catch (Exception e) when (IsAttemptFailure(e))
            {
                failed = e;
            }
            finally
            {
                await renewal.CancelAsync();
                await renewTask;
            }

            if (failed is not null)
            {
                return await RetryOrFailAsync(op, failed, reason => attachmentRunner.FailAsync(identity.InstanceId, op, reason, ct), ct);
            }

            return succeeded ? AgentMetrics.Succeeded : AgentMetrics.Failed;
        }

        string? error = null;
        string? note = null;
        Exception? unexpected = null;
        try
        {
            if (op.Kind == OperationKind.Delete)
            {
                // An exported LV cannot be removed: take down its target first (a no-op when none).
                await exporter.EnsureUnexportedAsync(op.VolumeId, ct);
            }

            note = op.Kind switch
            {
                OperationKind.Create when op.SourceSnapshotId is { } snapshot =>
                    await backend.EnsureCreatedFromAsync(op.VolumeId, StorageNames.Snapshot(snapshot), op.SizeGiB, ct),
                OperationKind.Create when op.SourceVolumeId is { } source =>
                    await backend.EnsureCreatedFromAsync(op.VolumeId, StorageNames.Volume(source), op.SizeGiB, ct),
                OperationKind.Create => await backend.EnsureCreatedAsync(op.VolumeId, op.SizeGiB, ct),
                // The volume row already holds the new size (the request reserved it).
                OperationKind.Extend => await backend.EnsureExtendedAsync(op.VolumeId, op.SizeGiB, ct),
                OperationKind.SnapshotCreate => await backend.EnsureSnapshotCreatedAsync(op.VolumeId, op.SnapshotId!.Value, op.SizeGiB, ct),
                OperationKind.SnapshotDelete => await backend.EnsureSnapshotDeletedAsync(op.SnapshotId!.Value, ct),
                OperationKind.Revert => await backend.EnsureRevertedAsync(op.VolumeId, op.SnapshotId!.Value, op.SizeGiB, ct),
                _ => await backend.EnsureDeletedAsync(op.VolumeId, ct),
            };
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
        catch (Exception e) when (IsAttemptFailure(e))
        {
            unexpected = e;
        }
        finally
        {
            await renewal.CancelAsync();
            await renewTask;
        }

        if (unexpected is not null)
        {
            return await RetryOrFailAsync(op, unexpected, reason => CompleteAsync(op, reason, null, ct), ct);
        }

        await CompleteAsync(op, error, note, ct);
        return error is null ? AgentMetrics.Succeeded : AgentMetrics.Failed;
    }

    private string GaveUpMessage(ClaimedOperation op) =>
        $"gave up after {op.Attempts - 1} attempt(s): each ended without a result (the agent stopped during it)";

    /// <summary>
    /// An attempt failed unexpectedly: give the operation back with backoff, or, after the last
    /// allowed attempt, end it with the reason (<paramref name="fail"/>). Returns the operations
    /// counter's status: retried or failed.
    /// </summary>
    private async Task<string> RetryOrFailAsync(ClaimedOperation op, Exception e, Func<string, Task> fail, CancellationToken ct)
    {
        var what = $"{e.GetType().Name}: {e.Message}";
        var decision = RetryFor(op.Kind).Decide(op.Attempts, what, retryable: true, Random.Shared);
        logger.LogError("{Kind} of volume {Volume}: {Decision}", op.Kind, op.VolumeId, decision.Message);
        if (!decision.Retry)
        {
            await fail(decision.Message);
            return AgentMetrics.Failed;
        }

        try
        {
            if (!await queue.RetryLaterAsync(identity.InstanceId, op, decision.Delay, decision.Message, ct))
            {
                logger.LogWarning("Lost the lease on operation {Op} before giving it back; the newer claim finishes it", op.Id);
            }
        }
        catch (BlockStoreException store) when (store.ErrorId == ErrorIds.StoreUnavailable)
        {
            // The lease runs out and the operation is claimed again: that claim counts as the next attempt.
            logger.LogWarning("Could not give operation {Op} back ({Message}); its lease will run out", op.Id, store.Message);
        }

        return AgentMetrics.Retried;
    }

    /// <summary>
    /// Records the outcome, waiting out a database outage: the LVM work is done, so giving up
    /// here would leave the operation running until its lease expires and make a later claim
    /// run it a second time. Only this process holds the lease, so it can keep trying.
    /// </summary>
    private Task CompleteAsync(ClaimedOperation op, string? error, string? note, CancellationToken ct) =>
        TransientRetry.UntilDoneAsync(async () =>
        {
            if (!await queue.CompleteAsync(identity.InstanceId, op, error, note, ct))
            {
                logger.LogWarning("Lost the lease on operation {Op} before completing it; the newer claim finishes it", op.Id);
            }
        },
        e => e is BlockStoreException { ErrorId: ErrorIds.StoreUnavailable },
        (e, wait) => logger.LogWarning("Cannot record the outcome of operation {Op} yet ({Message}); retrying in {Delay} s",
            op.Id, e.Message, wait.TotalSeconds),
        TransientRetry.OutcomeRecord, ct);

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
