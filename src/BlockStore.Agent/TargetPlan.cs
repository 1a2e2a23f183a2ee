using System.Globalization;

namespace BlockStore.Agent;

/// <summary>What one attachment needs from LIO.</summary>
public sealed record ExportSpec(
    string BackstoreName,
    string Device,
    string TargetIqn,
    string PortalAddress,
    int PortalPort,
    string Initiator,
    string UserId,
    string Secret)
{
    public string PortalName => PortalAddress.Contains(':') ? $"[{PortalAddress}]:{PortalPort}" : $"{PortalAddress}:{PortalPort}";

    public override string ToString() => $"{TargetIqn} for {Initiator}"; // never the secret
}

/// <summary>
/// Turns "what LIO has" (configfs) and "what this attachment needs" into the targetcli commands
/// still missing, so a retried operation adopts what an earlier attempt built and corrects what
/// differs. Pure: the agent reads the state, runs the lines in one targetcli process, reads again.
/// The names in these lines come from volume ids and validated IQNs only (no spaces, quotes or
/// '='), because targetcli parses each line itself.
/// </summary>
public static class TargetPlan
{
    public const string Save = "saveconfig";

    /// <summary>targetcli-fb creates this portal with every new target (auto_add_default_portal).</summary>
    private const string DefaultPortal = "0.0.0.0:3260";

    public static List<string> Export(ExportSpec want, VolumeTargetState have)
    {
        var lines = new List<string>();
        var tpg = $"/iscsi/{want.TargetIqn}/tpg1";
        if (have.BackstoreExists && have.BackstoreDevice != want.Device)
        {
            // A backstore of that name on another device is not ours to keep: rebuild from scratch.
            if (have.TargetExists)
            {
                lines.Add($"/iscsi delete {want.TargetIqn}");
            }

            lines.Add($"/backstores/block delete {want.BackstoreName}");
            have = VolumeTargetState.Absent;
        }

        if (!have.BackstoreExists)
        {
            lines.Add($"/backstores/block create name={want.BackstoreName} dev={want.Device}");
        }

        IReadOnlyList<string> portals = have.Portals;
        var fresh = !have.TargetExists;
        if (fresh)
        {
            lines.Add($"/iscsi create {want.TargetIqn}");
            portals = [DefaultPortal];
        }

        foreach (var p in portals.Where(p => p != want.PortalName))
        {
            var (ip, port) = SplitPortal(p);
            lines.Add($"{tpg}/portals delete {ip} {port}");
        }

        if (!portals.Contains(want.PortalName))
        {
            lines.Add($"{tpg}/portals create {want.PortalAddress} {want.PortalPort.ToString(CultureInfo.InvariantCulture)}");
        }

        // Without authentication=1 LIO lets any initiator with an ACL in, CHAP or not.
        if (fresh || have.Authentication != "1" || have.GenerateNodeAcls != "0")
        {
            lines.Add($"{tpg} set attribute authentication=1 generate_node_acls=0");
        }

        if (fresh || !have.Lun0Exists)
        {
            lines.Add($"{tpg}/luns create /backstores/block/{want.BackstoreName} lun=0");
        }

        var acl = fresh ? null : have.Acls.GetValueOrDefault(want.Initiator);
        if (acl is null)
        {
            // targetcli maps the existing LUN 0 into a new ACL (auto_add_mapped_luns); if a host
            // has that preference off, the next read finds lun_0 unmapped and maps it.
            lines.Add($"{tpg}/acls create {want.Initiator}");
        }
        else if (!acl.MappedLun0)
        {
            lines.Add($"{tpg}/acls/{want.Initiator} create mapped_lun=0 tpg_lun_or_backstore=0");
        }

        if (acl is null || acl.UserId != want.UserId || acl.Password != want.Secret)
        {
            lines.Add($"{tpg}/acls/{want.Initiator} set auth userid={want.UserId} password={want.Secret}");
        }

        if (!fresh && !have.TpgEnabled)
        {
            lines.Add($"{tpg} enable");
        }

        if (lines.Count > 0)
        {
            lines.Add(Save);
        }

        return lines;
    }

    /// <summary>
    /// Removes one initiator's access. With <paramref name="othersRemain"/> false (the last
    /// attachment) the target and backstore go too. Missing objects are success.
    /// </summary>
    public static List<string> Unexport(string backstoreName, string targetIqn, string? initiator, bool othersRemain, VolumeTargetState have)
    {
        var lines = new List<string>();
        if (othersRemain && initiator is not null)
        {
            if (have.TargetExists && have.Acls.ContainsKey(initiator))
            {
                lines.Add($"/iscsi/{targetIqn}/tpg1/acls delete {initiator}");
            }
        }
        else
        {
            if (have.TargetExists)
            {
                lines.Add($"/iscsi delete {targetIqn}");
            }

            if (have.BackstoreExists)
            {
                lines.Add($"/backstores/block delete {backstoreName}");
            }
        }

        if (lines.Count > 0)
        {
            lines.Add(Save);
        }

        return lines;
    }

    /// <summary>"10.0.2.15:3260" -> (10.0.2.15, 3260); "[::0]:3260" -> (::0, 3260).</summary>
    public static (string Ip, string Port) SplitPortal(string portal)
    {
        var i = portal.LastIndexOf(':');
        return (portal[..i].Trim('[', ']'), portal[(i + 1)..]);
    }
}
