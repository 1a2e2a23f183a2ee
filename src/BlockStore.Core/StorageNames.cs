namespace BlockStore.Core;

/// <summary>
/// The names BlockStore gives what it makes on a host: a volume's LV and LIO backstore
/// (volume-&lt;uuid&gt;) and a snapshot's LV (_snapshot-&lt;uuid&gt;). Built from ids only, never from
/// user text, so every retry finds what an earlier attempt made; parsed strictly (the lower-case
/// "D" form and an exact round trip), so a name BlockStore did not make is never taken for its own
/// (a foreign LV or backstore is never removed as an orphan).
/// </summary>
public static class StorageNames
{
    private const string VolumePrefix = "volume-";

    // LVM reserves LV names starting with "snapshot" (lvcreate refuses them); Cinder's LVM driver
    // escapes them with the same underscore.
    private const string SnapshotPrefix = "_snapshot-";

    /// <summary>The volume's LV name, which is also its LIO backstore name.</summary>
    public static string Volume(Guid volumeId) => VolumePrefix + volumeId.ToString("D");

    /// <summary>A snapshot's LV name.</summary>
    public static string Snapshot(Guid snapshotId) => SnapshotPrefix + snapshotId.ToString("D");

    /// <summary>The volume id of a name of our volume naming, else null.</summary>
    public static Guid? VolumeIdOf(string name) => IdOf(name, VolumePrefix, Volume);

    /// <summary>The snapshot id of a name of our snapshot naming, else null.</summary>
    public static Guid? SnapshotIdOf(string name) => IdOf(name, SnapshotPrefix, Snapshot);

    private static Guid? IdOf(string name, string prefix, Func<Guid, string> build) =>
        name.StartsWith(prefix, StringComparison.Ordinal)
        && Guid.TryParseExact(name[prefix.Length..], "D", out var id)
        && build(id) == name
            ? id
            : null;
}
