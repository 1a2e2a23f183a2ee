using BlockStore.Core;

namespace BlockStore.Agent;

/// <summary>
/// The iSCSI half of the agent: exports a volume's LV to one initiator (block backstore, target
/// prefix:volume-uuid, LUN 0, ACL with CHAP, authentication on, the configured portal, saveconfig)
/// and removes that access again. Every call converges, so it is idempotent and crash-safe: a
/// retried attach finishes what a killed one started; a retried detach finds nothing to do.
/// All targetcli work of this process runs under one lock.
/// </summary>
public sealed class VolumeExporter(TargetClient targets, AgentOptions options, TargetCapability capability)
{
    private readonly SemaphoreSlim _lock = new(1, 1);

    private IscsiOptions Iscsi => options.Iscsi;

    public string TargetIqn(Guid volumeId) => Core.Iscsi.TargetIqn(Iscsi.TargetPrefix, volumeId);

    public string DevicePath(Guid volumeId) => $"/dev/{options.VolumeGroup}/{StorageNames.Volume(volumeId)}";

    public string AdvertisedPortal => Iscsi.Portal(options.HostName);

    /// <summary>Exports the volume to the initiator. Returns the targetcli cost (for the event log).</summary>
    public async Task<TargetRun> EnsureExportedAsync(Guid volumeId, string initiator, string userId, string secret, bool forceSave, CancellationToken ct)
    {
        await capability.Probed.WaitAsync(ct);
        capability.ThrowIfUnavailable();
        var device = DevicePath(volumeId);
        if (!File.Exists(device))
        {
            throw new TargetException($"the volume's device {device} does not exist (LV missing or not active)");
        }

        var spec = new ExportSpec(StorageNames.Volume(volumeId), device, TargetIqn(volumeId), Iscsi.PortalAddress, Iscsi.PortalPort, initiator, userId, secret);
        return await LockedAsync(() => targets.ConvergeAsync($"exporting {spec}", s => TargetPlan.Export(spec, s),
            () => targets.Reader.Read(spec.BackstoreName, spec.TargetIqn), secret, forceSave, ct), ct);
    }

    /// <summary>
    /// Removes the initiator's ACL; when no other initiator keeps the volume attached, removes the
    /// LUN, target and backstore as well. Missing objects are success.
    /// </summary>
    public async Task<TargetRun> EnsureAccessRemovedAsync(Guid volumeId, string? initiator, bool othersRemain, CancellationToken ct)
    {
        if (!targets.Reader.IsAvailable)
        {
            return new TargetRun(0, 0, TimeSpan.Zero); // no LIO: nothing can be exported here
        }

        var backstore = StorageNames.Volume(volumeId);
        var iqn = TargetIqn(volumeId);
        return await LockedAsync(() => targets.ConvergeAsync($"removing {initiator ?? "every initiator"} from {iqn}",
            s => TargetPlan.Unexport(backstore, iqn, initiator, othersRemain, s),
            () => targets.Reader.Read(backstore, iqn), null, false, ct), ct);
    }

    /// <summary>Removes the volume's export entirely (before its LV is deleted).</summary>
    public Task<TargetRun> EnsureUnexportedAsync(Guid volumeId, CancellationToken ct) =>
        EnsureAccessRemovedAsync(volumeId, null, othersRemain: false, ct);

    /// <summary>
    /// Finds targets, ACLs and backstores of this agent's naming that no live attachment explains.
    /// LIO is read first and the database second (by the caller), so an attachment requested in
    /// between is never mistaken for a leak: its row exists before anything is built for it.
    /// </summary>
    public (List<(Guid VolumeId, string? Initiator)> Leaks, List<Guid> Backstores) FindLeaks(
        IReadOnlyList<TargetSummary> targetsSeen, IReadOnlyList<string> backstoresSeen, IReadOnlyCollection<(Guid VolumeId, string Initiator)> expected)
    {
        var byVolume = expected.GroupBy(e => e.VolumeId).ToDictionary(g => g.Key, g => g.Select(e => e.Initiator).ToHashSet(StringComparer.OrdinalIgnoreCase));
        var leaks = new List<(Guid, string?)>();
        foreach (var t in targetsSeen)
        {
            if (Core.Iscsi.VolumeIdOfTarget(Iscsi.TargetPrefix, t.Iqn) is not { } volumeId)
            {
                continue;
            }

            if (!byVolume.TryGetValue(volumeId, out var initiators))
            {
                leaks.Add((volumeId, null)); // the whole target
                continue;
            }

            leaks.AddRange(t.Initiators.Where(i => !initiators.Contains(i)).Select(i => (volumeId, (string?)i)));
        }

        var orphanBackstores = backstoresSeen
            .Select(b => StorageNames.VolumeIdOf(b) ?? Guid.Empty)
            .Where(id => id != Guid.Empty && !byVolume.ContainsKey(id) && !leaks.Any(l => l.Item1 == id))
            .ToList();
        return (leaks, orphanBackstores);
    }

    private async Task<T> LockedAsync<T>(Func<Task<T>> action, CancellationToken ct)
    {
        await _lock.WaitAsync(ct);
        try
        {
            return await action();
        }
        finally
        {
            _lock.Release();
        }
    }
}
