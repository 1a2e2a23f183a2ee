using BlockStore.Core;

namespace BlockStore.Agent;

/// <summary>iSCSI export settings of one agent (section "Agent:Iscsi").</summary>
public sealed class IscsiOptions
{
    /// <summary>false: never export (the host reports no iSCSI capability).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Target names are TargetPrefix:volume-uuid (Cinder's target_prefix).</summary>
    public string TargetPrefix { get; set; } = Iscsi.DefaultTargetPrefix;

    /// <summary>The address the LIO portal listens on (Cinder's target_ip_address).</summary>
    public string PortalAddress { get; set; } = "0.0.0.0";

    public int PortalPort { get; set; } = 3260;

    /// <summary>
    /// host:port that initiators use, when it differs from the listening address (NAT, port
    /// forwarding, 0.0.0.0). Defaults to PortalAddress:PortalPort, or the host name for 0.0.0.0.
    /// </summary>
    public string? AdvertisedPortal { get; set; }

    public string TargetcliPath { get; set; } = "targetcli";

    /// <summary>Where the kernel's LIO configuration appears (configfs).</summary>
    public string ConfigFsRoot { get; set; } = "/sys/kernel/config/target";

    /// <summary>How often the reconcile pass looks for targets no attachment explains.</summary>
    public int ReconcileIntervalSeconds { get; set; } = 300;

    /// <summary>
    /// While iSCSI export is unavailable for a reason that can pass (targetcli too slow or failing,
    /// LIO not loaded yet), how often the agent probes again; 0: only at start.
    /// </summary>
    public int ProbeRetrySeconds { get; set; } = 60;

    /// <summary>false: leaked targets are reported only; true: they are removed too.</summary>
    public bool RemoveLeakedTargets { get; set; }

    public string Portal(string hostName) =>
        AdvertisedPortal ?? (PortalAddress is "0.0.0.0" or "::" ? $"{hostName}:{PortalPort}" : $"{PortalAddress}:{PortalPort}");
}
