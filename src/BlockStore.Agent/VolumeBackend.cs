using BlockStore.Core;

namespace BlockStore.Agent;

/// <summary>
/// Idempotent, crash-safe volume operations on this host's volume group. LV names derive from
/// the volume id (never from user text), so a retried create finds what an earlier attempt made:
/// an LV of the right size is adopted; a missing LV on delete is success.
/// </summary>
public sealed class VolumeBackend(LvmClient lvm, AgentOptions options)
{
    public static string LvName(Guid volumeId) => $"volume-{volumeId}";

    /// <summary>
    /// Creates the volume's LV, or adopts it. Returns a note for the event log. lvcreate runs
    /// first and LVM is asked what exists only when it fails: the common path costs one LVM
    /// process, and a retry after a crash (lvcreate ran, the status was never written) still
    /// finds the LV and adopts it.
    /// </summary>
    public async Task<string> EnsureCreatedAsync(Guid volumeId, int sizeGiB, CancellationToken ct)
    {
        var name = LvName(volumeId);
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
    public async Task<string> EnsureDeletedAsync(Guid volumeId, CancellationToken ct)
    {
        var name = LvName(volumeId);
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
        var name = LvName(volumeId);
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
