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

    /// <summary>Creates the volume's LV, or adopts it. Returns a note for the event log.</summary>
    public async Task<string> EnsureCreatedAsync(Guid volumeId, int sizeGiB, CancellationToken ct)
    {
        var name = LvName(volumeId);
        var existing = (await lvm.ListAsync(options.VolumeGroup, ct)).FirstOrDefault(lv => lv.Name == name);
        if (existing is not null)
        {
            if (existing.SizeGiB == sizeGiB)
            {
                return $"adopted existing LV {options.VolumeGroup}/{name} ({sizeGiB} GiB)";
            }

            throw new LvmException($"LV {options.VolumeGroup}/{name} exists with {existing.SizeGiB} GiB, expected {sizeGiB} GiB; not touching it.");
        }

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

    /// <summary>Removes the volume's LV; one that is already gone is success.</summary>
    public async Task<string> EnsureDeletedAsync(Guid volumeId, CancellationToken ct)
    {
        var name = LvName(volumeId);
        var exists = (await lvm.ListAsync(options.VolumeGroup, ct)).Any(lv => lv.Name == name);
        if (!exists)
        {
            return $"LV {options.VolumeGroup}/{name} already absent";
        }

        await lvm.RemoveAsync(options.VolumeGroup, name, ct);
        return $"lvremove {options.VolumeGroup}/{name}";
    }
}
