using BlockStore.Core;

namespace BlockStore.Agent;

/// <summary>
/// Idempotent, crash-safe volume operations on this host's volume group. LV names derive from
/// the volume id (never from user text), so a retried create finds what an earlier attempt made:
/// an LV of the right size is adopted; a missing LV on delete is success.
/// </summary>
public sealed class VolumeBackend(LvmClient lvm, AgentOptions options, BlockCopier? copier = null)
{
    /// <summary>
    /// Whether this host can block-copy one LV into another (a thick volume from a snapshot, a thick
    /// clone): device-mapper present and LVM activation on, so its LVs have device nodes.
    /// </summary>
    public (bool Supported, string? Reason) BlockCopySupport() =>
        copier?.Support(options.LvmActivation) ?? (false, "this agent has no block copier");

    /// <summary>
    /// Whether this host's LVM can make snapshots: not with activation off (no device-mapper), where
    /// lvcreate -s itself answers "Can't create snapshot without using device-mapper kernel driver".
    /// </summary>
    public (bool Supported, string? Reason) SnapshotSupport() => options.LvmActivation
        ? (true, null)
        : (false, "LVM runs with activation off on this host (no device-mapper), and LVM cannot make snapshots without it");

    /// <summary>
    /// Snapshots the volume's LV (thin: in the pool, no size; thick: a COW area of the origin's
    /// size). Idempotent like create: lvcreate first, and when it fails an existing snapshot LV of
    /// the same origin (an earlier attempt that crashed before writing its status) is adopted.
    /// </summary>
    public async Task<string> EnsureSnapshotCreatedAsync(Guid volumeId, Guid snapshotId, int sizeGiB, CancellationToken ct)
    {
        var origin = StorageNames.Volume(volumeId);
        var name = StorageNames.Snapshot(snapshotId);
        try
        {
            if (options.BackendType == BackendType.Thin)
            {
                await lvm.CreateThinSnapshotAsync(options.VolumeGroup, origin, name, ct);
                return $"lvcreate -s {options.VolumeGroup}/{origin} -> {name} (thin)";
            }

            await lvm.CreateThickSnapshotAsync(options.VolumeGroup, origin, name, sizeGiB, ct);
            return $"lvcreate -s {options.VolumeGroup}/{origin} -> {name} ({sizeGiB} GiB COW)";
        }
        catch (LvmException)
        {
            var existing = await lvm.FindOriginAsync(options.VolumeGroup, name, ct);
            if (existing is null)
            {
                throw;
            }

            if (existing != origin)
            {
                throw new LvmException($"LV {options.VolumeGroup}/{name} exists but is not a snapshot of {origin} (origin '{existing}'); not touching it.");
            }

            return $"adopted existing snapshot LV {options.VolumeGroup}/{name}";
        }
    }

    /// <summary>
    /// On a thick host: see <see cref="EnsureCopiedFromAsync"/>. On a thin host: makes a volume from a
    /// thin snapshot (New-BlockVolume -SnapshotId) or clones a thin volume
    /// (-SourceVolumeId): a thin snapshot of the source LV, named as the volume and activated like
    /// any volume (no activation-skip flag), instant and sharing the pool's blocks; then grown with
    /// lvextend when a larger size was asked for. Idempotent like create: an LV of the volume's name
    /// made from the same source is adopted, and a missing growth is done.
    /// </summary>
    public async Task<string> EnsureCreatedFromAsync(Guid volumeId, string source, int sizeGiB, CancellationToken ct)
    {
        if (options.BackendType != BackendType.Thin)
        {
            return await EnsureCopiedFromAsync(volumeId, source, sizeGiB, ct);
        }

        var name = StorageNames.Volume(volumeId);
        string note;
        try
        {
            await lvm.CreateThinSnapshotAsync(options.VolumeGroup, source, name, ct, activationSkip: false);
            note = $"lvcreate -s {options.VolumeGroup}/{source} -> {name}";
        }
        catch (LvmException)
        {
            var origin = await lvm.FindOriginAsync(options.VolumeGroup, name, ct);
            if (origin is null)
            {
                throw;
            }

            if (origin != source)
            {
                throw new LvmException($"LV {options.VolumeGroup}/{name} exists but was not made from {source} (origin '{origin}'); not touching it.");
            }

            note = $"adopted existing LV {options.VolumeGroup}/{name} made from {source}";
        }

        var made = await lvm.FindAsync(options.VolumeGroup, name, ct)
            ?? throw new LvmException($"LV {options.VolumeGroup}/{name} is missing right after it was made from {source}.");
        if (made.SizeGiB < sizeGiB)
        {
            await lvm.ExtendAsync(options.VolumeGroup, name, sizeGiB, ct);
            note += $", lvextend to {sizeGiB} GiB";
        }

        return note;
    }

    /// <summary>
    /// A thick volume from a (COW) snapshot or a thick clone: a new LV of the volume's full size (made
    /// or adopted as create does: the name derives from the id, so a retry never makes a second one),
    /// then the source's bytes copied into it through the device nodes with direct I/O. Crash-safe
    /// because the copy is not recorded anywhere but in the outcome of this operation: the volume
    /// becomes available only when the operation completes after the copy, and an operation taken up
    /// again after a crash adopts the LV and copies again from the start (a half copy is overwritten).
    /// </summary>
    private async Task<string> EnsureCopiedFromAsync(Guid volumeId, string source, int sizeGiB, CancellationToken ct)
    {
        var (supported, why) = BlockCopySupport();
        if (copier is null || !supported)
        {
            throw new LvmException($"cannot copy {options.VolumeGroup}/{source} into a new LV: {why}");
        }

        var name = StorageNames.Volume(volumeId);
        var from = copier.DevicePath(options.VolumeGroup, source);
        var to = copier.DevicePath(options.VolumeGroup, name);
        // The source first: a missing source fails before any LV is made.
        await EnsureActiveAsync(source, from, ct);
        var note = await EnsureCreatedAsync(volumeId, sizeGiB, ct);
        await EnsureActiveAsync(name, to, ct);
        await copier.CopyAsync(from, to, ct);
        return $"{note}, block copy of {options.VolumeGroup}/{source} into it (dd, direct I/O)";
    }

    /// <summary>
    /// Activates an LV whose device node is missing. An active LV (a thick LV right after lvcreate, a
    /// COW snapshot, a volume in use) already has one: no LVM process then, which under the guest's
    /// emulation saves about a second per copy (docs/benchmarks.md).
    /// </summary>
    private async Task EnsureActiveAsync(string name, string devicePath, CancellationToken ct)
    {
        if (!File.Exists(devicePath))
        {
            await lvm.ActivateAsync(options.VolumeGroup, name, ct);
        }
    }

    /// <summary>
    /// Reverts the volume's LV to a snapshot, as Cinder's LVM driver does: lvconvert --merge (the
    /// origin gets the snapshot's data; the snapshot LV is consumed), then the snapshot is taken
    /// again under the same name, because the user still has it (its row stays available), and the
    /// LV is grown back to the volume's size if the snapshot was smaller. Idempotent: a snapshot LV
    /// already gone means the merge happened before a crash, and the rest is done.
    /// </summary>
    public async Task<string> EnsureRevertedAsync(Guid volumeId, Guid snapshotId, int sizeGiB, CancellationToken ct)
    {
        var origin = StorageNames.Volume(volumeId);
        var snapshot = StorageNames.Snapshot(snapshotId);
        var notes = new List<string>();
        var origins = await lvm.FindOriginAsync(options.VolumeGroup, snapshot, ct);
        if (origins is not null)
        {
            if (origins != origin)
            {
                throw new LvmException($"LV {options.VolumeGroup}/{snapshot} is not a snapshot of {origin} (origin '{origins}'); not touching it.");
            }

            await lvm.MergeAsync(options.VolumeGroup, snapshot, ct);
            notes.Add($"lvconvert --merge {options.VolumeGroup}/{snapshot}");
        }
        else
        {
            notes.Add($"{snapshot} already merged");
        }

        var lv = await lvm.FindAsync(options.VolumeGroup, origin, ct)
            ?? throw new LvmException($"LV {options.VolumeGroup}/{origin} is missing after the merge.");
        if (lv.SizeGiB < sizeGiB)
        {
            await lvm.ExtendAsync(options.VolumeGroup, origin, sizeGiB, ct);
            notes.Add($"lvextend to {sizeGiB} GiB");
        }

        notes.Add(await EnsureSnapshotCreatedAsync(volumeId, snapshotId, sizeGiB, ct) + " (taken again: the snapshot stays)");
        return string.Join(", ", notes);
    }

    /// <summary>Removes a snapshot's LV; one that is already gone is success.</summary>
    public Task<string> EnsureSnapshotDeletedAsync(Guid snapshotId, CancellationToken ct) =>
        EnsureLvRemovedAsync(StorageNames.Snapshot(snapshotId), ct);

    /// <summary>
    /// Creates the volume's LV, or adopts it. Returns a note for the event log. lvcreate runs
    /// first and LVM is asked what exists only when it fails: the common path costs one LVM
    /// process, and a retry after a crash (lvcreate ran, the status was never written) still
    /// finds the LV and adopts it.
    /// </summary>
    public async Task<string> EnsureCreatedAsync(Guid volumeId, int sizeGiB, CancellationToken ct)
    {
        var name = StorageNames.Volume(volumeId);
        try
        {
            if (options.BackendType == BackendType.Thin)
            {
                await lvm.CreateThinAsync(options.VolumeGroup, options.ThinPool!, name, sizeGiB, ct);
            }
            else
            {
                await lvm.CreateThickAsync(options.VolumeGroup, name, sizeGiB, ct);
            }

            return $"lvcreate {options.VolumeGroup}/{name} ({sizeGiB} GiB, {options.BackendType})";
        }
        catch (LvmException)
        {
            var existing = await lvm.FindAsync(options.VolumeGroup, name, ct);
            if (existing is null)
            {
                throw;
            }

            if (existing.SizeGiB != sizeGiB)
            {
                throw new LvmException($"LV {options.VolumeGroup}/{name} exists with {existing.SizeGiB} GiB, expected {sizeGiB} GiB; not touching it.");
            }

            if (options.BackendType == BackendType.Thin && existing.Pool != options.ThinPool)
            {
                throw new LvmException($"LV {options.VolumeGroup}/{name} exists outside thin pool {options.ThinPool}; not touching it.");
            }

            return $"adopted existing LV {options.VolumeGroup}/{name} ({sizeGiB} GiB)";
        }
    }

    /// <summary>Removes the volume's LV; one that is already gone is success.</summary>
    public Task<string> EnsureDeletedAsync(Guid volumeId, CancellationToken ct) =>
        EnsureLvRemovedAsync(StorageNames.Volume(volumeId), ct);

    /// <summary>Removes an LV of ours; one that is already gone is success.</summary>
    private async Task<string> EnsureLvRemovedAsync(string name, CancellationToken ct)
    {
        try
        {
            await lvm.RemoveAsync(options.VolumeGroup, name, ct);
            return $"lvremove {options.VolumeGroup}/{name}";
        }
        catch (LvmException)
        {
            // Only an LV that is really absent counts as deleted; any other failure is reported.
            if (await lvm.FindAsync(options.VolumeGroup, name, ct) is not null)
            {
                throw;
            }

            return $"LV {options.VolumeGroup}/{name} already absent";
        }
    }

    /// <summary>
    /// Grows the volume's LV to <paramref name="sizeGiB"/>. Idempotent: an LV already at (or past)
    /// that size is success, so a retry after a crash (lvextend ran, the status was never written)
    /// finishes the job. lvextend runs first and LVM is asked what exists only when it fails (it
    /// refuses a size that is not larger): the common path costs one LVM process, as create does.
    /// </summary>
    public async Task<string> EnsureExtendedAsync(Guid volumeId, int sizeGiB, CancellationToken ct)
    {
        var name = StorageNames.Volume(volumeId);
        try
        {
            await lvm.ExtendAsync(options.VolumeGroup, name, sizeGiB, ct);
            return $"lvextend {options.VolumeGroup}/{name} to {sizeGiB} GiB";
        }
        catch (LvmException)
        {
            var existing = await lvm.FindAsync(options.VolumeGroup, name, ct)
                ?? throw new LvmException($"LV {options.VolumeGroup}/{name} does not exist; nothing to extend.");
            if (existing.SizeGiB < sizeGiB)
            {
                throw;
            }

            return $"LV {options.VolumeGroup}/{name} already {existing.SizeGiB:0.##} GiB";
        }
    }
}
