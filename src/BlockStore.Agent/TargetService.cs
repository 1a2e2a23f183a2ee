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
    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        await runtime.Registered.WaitAsync(ct);
        await capability.ProbeAsync(ct);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await attachments.ReportCapabilityAsync(capability.Available, capability.Reason, ct);
                break;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning("Could not record the iSCSI capability ({Message}); retrying", e.Message);
                await Task.Delay(TimeSpan.FromSeconds(2), ct);
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

    public async Task ReconcileAsync(CancellationToken ct)
    {
        // LIO first, the database second: see VolumeExporter.FindLeaks.
        var seen = targets.Reader.ListTargets();
        var backstores = targets.Reader.ListBlockBackstores();
        var expected = await attachments.ExpectedExportsAsync(ct);
        var (leaks, orphanBackstores) = exporter.FindLeaks(seen, backstores, expected);
        foreach (var (volumeId, initiator) in leaks)
        {
            var what = initiator is null ? $"target {exporter.TargetIqn(volumeId)}" : $"ACL {initiator} on {exporter.TargetIqn(volumeId)}";
            logger.LogWarning("Leaked {What}: no live attachment explains it{Action}", what, options.Iscsi.RemoveLeakedTargets ? "; removing it" : "");
            await attachments.RecordHostEventAsync(volumeId, "leaked-target", $"{what} has no live attachment" +
                (options.Iscsi.RemoveLeakedTargets ? "; removed" : "; reported only (Agent:Iscsi:RemoveLeakedTargets=false)"), ct);
            if (options.Iscsi.RemoveLeakedTargets)
            {
                var othersRemain = initiator is not null && expected.Any(e => e.VolumeId == volumeId);
                await exporter.EnsureAccessRemovedAsync(volumeId, initiator, othersRemain, ct);
            }
        }

        foreach (var volumeId in orphanBackstores)
        {
            logger.LogWarning("Leaked backstore volume-{Volume} (no target, no attachment){Action}", volumeId, options.Iscsi.RemoveLeakedTargets ? "; removing it" : "");
            await attachments.RecordHostEventAsync(volumeId, "leaked-target", $"backstore volume-{volumeId} has no live attachment" +
                (options.Iscsi.RemoveLeakedTargets ? "; removed" : "; reported only"), ct);
            if (options.Iscsi.RemoveLeakedTargets)
            {
                await exporter.EnsureUnexportedAsync(volumeId, ct);
            }
        }
    }
}
