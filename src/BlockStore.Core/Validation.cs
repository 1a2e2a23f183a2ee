using System.Text.RegularExpressions;

namespace BlockStore.Core;

/// <summary>
/// Input rules shared by the cmdlets (which refuse bad input before writing anything) and the
/// data layer (which re-checks, so no other client can store what the cmdlets would refuse).
/// </summary>
public static partial class Validation
{
    public const int MinSizeGiB = 1;
    public const int MaxSizeGiB = 16384;
    public const int MaxReasonLength = 255;
    public const int MaxDescriptionLength = 1024;

    // Names are for people; LVM and targetcli never see them (they get names derived from ids),
    // but a conservative alphabet keeps them safe to show, type and complete.
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]
    private static partial Regex VolumeNamePattern();

    // Host names and zones: DNS-label-like, lower case.
    [GeneratedRegex("^[a-z0-9][a-z0-9.-]{0,62}$")]
    private static partial Regex HostNamePattern();

    public static void VolumeName(string? name)
    {
        if (string.IsNullOrEmpty(name) || !VolumeNamePattern().IsMatch(name))
        {
            throw new BlockStoreException(ErrorIds.InvalidVolumeName, ErrorKind.InvalidArgument,
                $"Volume name '{name}' is not valid: use 1-63 characters from A-Z, a-z, 0-9, '.', '_' and '-', starting with a letter or digit.",
                name);
        }
    }

    /// <summary>Snapshot names follow the volume name rules (they are never given to LVM: LVs are named by id).</summary>
    public static void SnapshotName(string? name)
    {
        if (string.IsNullOrEmpty(name) || !VolumeNamePattern().IsMatch(name))
        {
            throw new BlockStoreException(ErrorIds.InvalidSnapshotName, ErrorKind.InvalidArgument,
                $"Snapshot name '{name}' is not valid: use 1-63 characters from A-Z, a-z, 0-9, '.', '_' and '-', starting with a letter or digit.",
                name);
        }
    }

    public static void VolumeSize(long sizeGiB)
    {
        if (sizeGiB < MinSizeGiB || sizeGiB > MaxSizeGiB)
        {
            throw new BlockStoreException(ErrorIds.InvalidVolumeSize, ErrorKind.InvalidArgument,
                $"Volume size {sizeGiB} GiB is out of range: sizes are whole GiB from {MinSizeGiB} to {MaxSizeGiB}.",
                sizeGiB);
        }
    }

    /// <summary>
    /// Resize-BlockVolume: a valid size that is larger than the volume's current one (volumes only
    /// grow, as in Cinder: shrinking would cut the data at the end of the disk).
    /// </summary>
    public static void ExtendSize(string volumeName, int currentGiB, long requestedGiB)
    {
        VolumeSize(requestedGiB);
        if (requestedGiB <= currentGiB)
        {
            throw new BlockStoreException(ErrorIds.InvalidVolumeSize, ErrorKind.InvalidArgument,
                $"Volume '{volumeName}' is {currentGiB} GiB: the new size must be larger ({requestedGiB} GiB is not). Volumes only grow.",
                requestedGiB);
        }
    }

    public static void Description(string? description)
    {
        if (description is not null && description.Length > MaxDescriptionLength)
        {
            throw new BlockStoreException(ErrorIds.InvalidDescription, ErrorKind.InvalidArgument,
                $"Description is {description.Length} characters long; at most {MaxDescriptionLength} are allowed.", description);
        }
    }

    public static void HostName(string? host)
    {
        if (string.IsNullOrEmpty(host) || !HostNamePattern().IsMatch(host))
        {
            throw new BlockStoreException(ErrorIds.InvalidHostName, ErrorKind.InvalidArgument,
                $"Host name '{host}' is not valid: use 1-63 lower-case letters, digits, '.' and '-'.", host);
        }
    }

    public static void AvailabilityZone(string? zone)
    {
        if (string.IsNullOrEmpty(zone) || !HostNamePattern().IsMatch(zone))
        {
            throw new BlockStoreException(ErrorIds.InvalidAvailabilityZone, ErrorKind.InvalidArgument,
                $"Availability zone '{zone}' is not valid: use 1-63 lower-case letters, digits, '.' and '-'.", zone);
        }
    }

    /// <summary>A disable reason: optional, but when given 1-255 characters and not blank.</summary>
    public static void DisableReason(string? reason)
    {
        if (reason is null)
        {
            return;
        }

        if (string.IsNullOrWhiteSpace(reason) || reason.Length > MaxReasonLength)
        {
            throw new BlockStoreException(ErrorIds.InvalidReason, ErrorKind.InvalidArgument,
                $"A disable reason must be 1-{MaxReasonLength} characters and not blank (got {reason.Length}).", reason);
        }
    }

    /// <summary>
    /// Returns the canonical (lower-case) spelling of a volume status name, or throws
    /// InvalidVolumeStatus: a misspelt status would otherwise filter out every volume, or make a
    /// wait run into its timeout, without a word.
    /// </summary>
    public static string VolumeStatusName(string? status)
    {
        var match = Core.VolumeStatus.All.FirstOrDefault(s => string.Equals(s, status, StringComparison.OrdinalIgnoreCase));
        return match ?? throw new BlockStoreException(ErrorIds.InvalidVolumeStatus, ErrorKind.InvalidArgument,
            $"Volume status '{status}' is not one of {string.Join(", ", Core.VolumeStatus.All)}.", status);
    }

    /// <summary>A snapshot status name, case-insensitive, else InvalidSnapshotStatus (same reason as volumes).</summary>
    public static string SnapshotStatusName(string? status)
    {
        var match = SnapshotStatus.All.FirstOrDefault(s => string.Equals(s, status, StringComparison.OrdinalIgnoreCase));
        return match ?? throw new BlockStoreException(ErrorIds.InvalidSnapshotStatus, ErrorKind.InvalidArgument,
            $"Snapshot status '{status}' is not one of {string.Join(", ", SnapshotStatus.All)}.", status);
    }

    public static readonly IReadOnlyList<string> LogLevels =
        ["Trace", "Debug", "Information", "Warning", "Error", "Critical"];

    /// <summary>Returns the canonical spelling of a log level name, or throws InvalidLogLevel.</summary>
    public static string LogLevel(string? level)
    {
        var match = LogLevels.FirstOrDefault(l => string.Equals(l, level, StringComparison.OrdinalIgnoreCase));
        return match ?? throw new BlockStoreException(ErrorIds.InvalidLogLevel, ErrorKind.InvalidArgument,
            $"Log level '{level}' is not one of {string.Join(", ", LogLevels)}.", level);
    }
}
