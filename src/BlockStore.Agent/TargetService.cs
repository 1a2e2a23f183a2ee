using BlockStore.Core;
using BlockStore.Data;
using BlockStore.Hosting;

namespace BlockStore.Agent;

/// <summary>
/// At start: probes whether this host can export over iSCSI and records it in the service row.
/// Then, periodically: the reconcile pass, which reports targets, ACLs and backstores of our
/// naming that no live attachment explains (Cinder users' "leaked targets") and, when
/// Agent:Iscsi:RemoveLeakedTargets is set, removes them.
/// </summary>
public sealed class TargetService(
    TargetCapability capability,
    VolumeExporter exporter,
    TargetClient targets,
    AgentAttachments attachments,
    ServiceRuntime runtime,
    AgentOptions options,
    ILogger<TargetService> logger) : BackgroundService
{
    private int _passes;

    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        await runtime.Registered.WaitAsync(ct);
        await capability.ProbeAsync(ct);
        await ReportCapabilityAsync(ct);

        // A probe that failed for a reason that can pass is repeated, and a changed answer is
        // recorded: a host whose first targetcli run outlasted its deadline (a slow guest) or whose
        // LIO modules came later becomes usable without a restart.
        while (capability.WorthProbingAgain && options.Iscsi.ProbeRetrySeconds > 0)
        {
            await Task.Delay(TimeSpan.FromSeconds(options.Iscsi.ProbeRetrySeconds), ct);
            if (await capability.ProbeAsync(ct))
            {
                await ReportCapabilityAsync(ct);
            }
        }

        if (!capability.Available)
        {
            return;
        }

        while (!ct.IsCancellationRequested)
        {
            try
            {
                await ReconcileAsync(ct);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning("Reconcile pass failed ({Message}); the next pass retries", e.Message);
            }

            await Task.Delay(TimeSpan.FromSeconds(Math.Max(5, options.Iscsi.ReconcileIntervalSeconds)), ct);
        }
    }

    private Task ReportCapabilityAsync(CancellationToken ct) =>
        TransientRetry.UntilDoneAsync(
            () => attachments.ReportCapabilityAsync(capability.Available, capability.Reason, ct),
            e => e is not OperationCanceledException,
            (e, _) => logger.LogWarning("Could not record the iSCSI capability ({Message}); retrying", e.Message),
            TransientRetry.CapabilityReport, ct);

    public async Task ReconcileAsync(CancellationToken ct)
    {
        // LIO first, the database second: see VolumeExporter.FindLeaks.
        var seen = targets.Reader.ListTargets();
        var backstores = targets.Reader.ListBlockBackstores();
        var expected = await attachments.ExpectedExportsAsync(ct);
        var (leaks, orphanBackstores) = exporter.FindLeaks(seen, backstores, expected);
        var found = new List<string>();
        foreach (var (volumeId, initiator) in leaks)
        {
            var what = initiator is null ? $"target {exporter.TargetIqn(volumeId)}" : $"ACL {initiator} on {exporter.TargetIqn(volumeId)}";
            var othersRemain = initiator is not null && expected.Any(e => e.VolumeId == volumeId);
            await ReportLeakAsync(volumeId, what, () => exporter.EnsureAccessRemovedAsync(volumeId, initiator, othersRemain, ct), found, ct);
        }

        foreach (var volumeId in orphanBackstores)
        {
            await ReportLeakAsync(volumeId, $"backstore {StorageNames.Volume(volumeId)}", () => exporter.EnsureUnexportedAsync(volumeId, ct), found, ct);
        }

        _reported.EndPass(found);

        // The first pass after a start says what it found even when all is well (after a reboot of
        // the host, that is the evidence that the restored exports match the attachments); logged
        // last, so its events are already recorded when the line appears.
        var level = _passes++ == 0 || leaks.Count + orphanBackstores.Count > 0 ? LogLevel.Information : LogLevel.Debug;
        logger.Log(level, "iSCSI reconcile pass: {Targets} target(s) in LIO, {Expected} live attachment(s), {Leaks} leaked target(s)/ACL(s), {Orphans} orphan backstore(s)",
            seen.Count, expected.Count, leaks.Count, orphanBackstores.Count);
    }

    // Leaks already recorded as events: one that is only reported stays until an operator acts.
    private readonly ReportedFindings<string> _reported = new();

    /// <summary>
    /// Logs and records one leak; when configured, removes it first, so that the event says what
    /// actually happened ("removed" only once LIO no longer has it, or why the removal failed).
    /// </summary>
    private async Task ReportLeakAsync(Guid volumeId, string what, Func<Task<TargetRun>> remove, List<string> found, CancellationToken ct)
    {
        string outcome;
        if (!options.Iscsi.RemoveLeakedTargets)
        {
            outcome = "reported only (Agent:Iscsi:RemoveLeakedTargets=false)";
        }
        else
        {
            try
            {
                await remove();
                outcome = "removed";
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                outcome = $"removal failed: {e.Message}";
            }
        }

        var message = $"{what} has no live attachment; {outcome}";
        logger.LogWarning("Leaked {Message}", message);
        found.Add(message);
        if (_reported.IsNew(message))
        {
            await attachments.RecordHostEventAsync(volumeId, "leaked-target", message, ct);
            _reported.Recorded(message);
        }
    }
}
