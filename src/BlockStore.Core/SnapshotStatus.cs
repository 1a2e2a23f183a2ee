namespace BlockStore.Core;

/// <summary>
/// Snapshot status names and rules (Cinder's): creating → available → deleting → deleted, or
/// error (the LVM message in StatusReason) and error_deleting. A snapshot lives on its volume's
/// host and changes nothing in the volume's own status.
/// </summary>
public static class SnapshotStatus
{
    public const string Creating = "creating";
    public const string Available = "available";
    public const string Deleting = "deleting";
    public const string Deleted = "deleted";
    public const string Error = "error";
    public const string ErrorDeleting = "error_deleting";

    public static readonly IReadOnlyList<string> All = [Creating, Available, Deleting, Deleted, Error, ErrorDeleting];

    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        [Creating] = [Available, Error],
        [Available] = [Deleting],
        [Error] = [Deleting],
        [Deleting] = [Deleted, ErrorDeleting],
        [ErrorDeleting] = [Deleting],
        [Deleted] = [],
    };

    public static bool CanMove(string from, string to) => Allowed.TryGetValue(from, out var next) && next.Contains(to);

    /// <summary>Statuses in which nothing more happens until a user asks.</summary>
    public static bool IsFinal(string status) => status is Available or Deleted or Error or ErrorDeleting;

    /// <summary>Removal may be asked for once a snapshot has settled (not while it is being made or removed).</summary>
    public static bool CanRequestDelete(string status) => status is Available or Error or ErrorDeleting;

    /// <summary>
    /// Whether a snapshot keeps its volume from being removed (VolumeHasSnapshots): every snapshot
    /// not yet deleted, as in Cinder; an error one is removed first like the others.
    /// </summary>
    public static bool BlocksVolumeDelete(string status) => status != Deleted;

    /// <summary>
    /// Whether a volume in <paramref name="volumeStatus"/> may be snapshotted: available, or
    /// attached (in-use) with -Force as Cinder allows (the data is crash-consistent, not quiesced).
    /// </summary>
    public static bool CanSnapshot(string volumeStatus, bool force) =>
        volumeStatus == VolumeStatus.Available || (force && volumeStatus == VolumeStatus.InUse);
}
