namespace BlockStore.Core;

/// <summary>
/// What counts in a host's capacity ledger (bs.capacity_ledger, kept by triggers), in one place:
/// a thing holds space from the moment it is on the host until it is deleted, and a failed create
/// holds none (nothing was made). Migrations 0008 and 0010 say the same in SQL
/// (bs.volume_holds_space, bs.snapshot_holds_space); data tests compare them with these.
/// </summary>
public static class CapacityLedger
{
    /// <summary>A volume holds its size from placement (it has a host) until it is deleted.</summary>
    public static bool VolumeHoldsSpace(string? host, string status) => host is not null && Holds(status);

    /// <summary>
    /// A thick snapshot sets aside a COW area as large as its origin from the request on; a thin
    /// one shares the pool, where its origin's provisioned size already counts.
    /// </summary>
    public static bool SnapshotHoldsSpace(string backendType, string status) => backendType == BackendType.Thick && Holds(status);

    // Volume and snapshot statuses share these two names and their meaning here.
    private static bool Holds(string status) => status is not (VolumeStatus.Deleted or VolumeStatus.Error);
}
