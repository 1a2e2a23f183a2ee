namespace BlockStore.Agent;

/// <summary>One node ACL of a target, as LIO has it.</summary>
public sealed record AclState(string? UserId, string? Password, bool MappedLun0)
{
    public override string ToString() => $"ACL (user {UserId}, lun0 mapped: {MappedLun0})"; // never the password
}

/// <summary>
/// What LIO currently has for one volume: its block backstore and its target (TPG 1). Read from
/// configfs before every change, so each targetcli batch holds only the steps still missing.
/// </summary>
public sealed record VolumeTargetState(
    string? BackstoreDevice,
    bool TargetExists,
    bool TpgEnabled,
    string? Authentication,
    string? GenerateNodeAcls,
    IReadOnlyList<string> Portals,
    bool Lun0Exists,
    IReadOnlyDictionary<string, AclState> Acls)
{
    public bool BackstoreExists => BackstoreDevice is not null;

    public static readonly VolumeTargetState Absent =
        new(null, false, false, null, null, [], false, new Dictionary<string, AclState>());
}

/// <summary>A target as the reconcile pass sees it: its IQN and the initiators with an ACL.</summary>
public sealed record TargetSummary(string Iqn, IReadOnlyList<string> Initiators);

/// <summary>Reads LIO's configuration. An interface so unit tests can stand in for configfs.</summary>
public interface ITargetStateReader
{
    /// <summary>True when the kernel has LIO (configfs target directory present).</summary>
    bool IsAvailable { get; }

    VolumeTargetState Read(string backstoreName, string targetIqn);

    IReadOnlyList<TargetSummary> ListTargets();

    /// <summary>Names of the block backstores.</summary>
    IReadOnlyList<string> ListBlockBackstores();
}

/// <summary>
/// Reads LIO's state from configfs (/sys/kernel/config/target), as rtslib does: plain file reads,
/// no Python start-up. Layout: core/iblock_N/NAME/udev_path; iscsi/IQN/tpgt_1/{enable, attrib/*,
/// np/IP:PORT, lun/lun_0, acls/INITIATOR/{auth/userid, auth/password, lun_0}}.
/// </summary>
public sealed class ConfigFsTargetReader(string root) : ITargetStateReader
{
    public bool IsAvailable => Directory.Exists(root);

    public VolumeTargetState Read(string backstoreName, string targetIqn)
    {
        string? device = null;
        if (Directory.Exists(Path.Combine(root, "core")))
        {
            foreach (var hba in Directory.EnumerateDirectories(Path.Combine(root, "core"), "iblock_*"))
            {
                var so = Path.Combine(hba, backstoreName);
                if (Directory.Exists(so))
                {
                    device = ReadValue(Path.Combine(so, "udev_path")) ?? "";
                    break;
                }
            }
        }

        var tpg = Path.Combine(root, "iscsi", targetIqn, "tpgt_1");
        if (!Directory.Exists(Path.Combine(root, "iscsi", targetIqn)))
        {
            return VolumeTargetState.Absent with { BackstoreDevice = device };
        }

        var acls = new Dictionary<string, AclState>(StringComparer.OrdinalIgnoreCase);
        var aclDir = Path.Combine(tpg, "acls");
        if (Directory.Exists(aclDir))
        {
            foreach (var acl in Directory.EnumerateDirectories(aclDir))
            {
                acls[Path.GetFileName(acl)] = new AclState(
                    ReadValue(Path.Combine(acl, "auth", "userid")),
                    ReadValue(Path.Combine(acl, "auth", "password")),
                    Directory.Exists(Path.Combine(acl, "lun_0")));
            }
        }

        var npDir = Path.Combine(tpg, "np");
        var portals = Directory.Exists(npDir) ? Directory.EnumerateDirectories(npDir).Select(Path.GetFileName).Select(n => n!).ToList() : [];
        return new VolumeTargetState(
            device,
            TargetExists: true,
            TpgEnabled: ReadValue(Path.Combine(tpg, "enable")) == "1",
            Authentication: ReadValue(Path.Combine(tpg, "attrib", "authentication")),
            GenerateNodeAcls: ReadValue(Path.Combine(tpg, "attrib", "generate_node_acls")),
            portals,
            Lun0Exists: Directory.Exists(Path.Combine(tpg, "lun", "lun_0")),
            acls);
    }

    public IReadOnlyList<TargetSummary> ListTargets()
    {
        var iscsi = Path.Combine(root, "iscsi");
        if (!Directory.Exists(iscsi))
        {
            return [];
        }

        return Directory.EnumerateDirectories(iscsi)
            .Select(Path.GetFileName)
            .Where(n => n!.StartsWith("iqn.", StringComparison.Ordinal) || n.StartsWith("eui.", StringComparison.Ordinal) || n.StartsWith("naa.", StringComparison.Ordinal))
            .Select(n =>
            {
                var acls = Path.Combine(iscsi, n!, "tpgt_1", "acls");
                var initiators = Directory.Exists(acls) ? Directory.EnumerateDirectories(acls).Select(a => Path.GetFileName(a)!).ToList() : [];
                return new TargetSummary(n!, initiators);
            })
            .ToList();
    }

    public IReadOnlyList<string> ListBlockBackstores()
    {
        var core = Path.Combine(root, "core");
        if (!Directory.Exists(core))
        {
            return [];
        }

        return Directory.EnumerateDirectories(core, "iblock_*")
            .SelectMany(Directory.EnumerateDirectories)
            .Select(d => Path.GetFileName(d)!)
            .ToList();
    }

    private static string? ReadValue(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllText(path).Trim('\n', '\0', ' ') : null;
        }
        catch (IOException)
        {
            return null; // an object removed while we read it: treat as absent
        }
    }
}
