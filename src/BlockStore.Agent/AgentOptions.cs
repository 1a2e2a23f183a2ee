namespace BlockStore.Agent;

/// <summary>Settings of one volume agent (section "Agent").</summary>
public sealed class AgentOptions
{
    public string HostName { get; set; } = Environment.MachineName.ToLowerInvariant();
    public string Zone { get; set; } = "nova";
    public string VolumeGroup { get; set; } = "";

    /// <summary>thick (plain LVs) or thin (LVs in <see cref="ThinPool"/>).</summary>
    public string BackendType { get; set; } = "thick";
    public string? ThinPool { get; set; }
    public int ReservedPercentage { get; set; }
    public decimal MaxOverSubscriptionRatio { get; set; } = 20m;

    /// <summary>
    /// false on kernels without device-mapper: LVM then runs metadata operations only
    /// (global/activation=0). Real storage hosts leave it true.
    /// </summary>
    public bool LvmActivation { get; set; } = true;

    /// <summary>Where lvcreate, lvs, ... are (empty: found through PATH).</summary>
    public string? LvmBinDirectory { get; set; }

    /// <summary>How long each external command may run before it is killed (Agent:Deadlines:LvmSeconds, ...).</summary>
    public CommandDeadlines Deadlines { get; set; } = new();

    /// <summary>How long a claimed operation is ours without renewal.</summary>
    public int LeaseSeconds { get; set; } = 30;

    /// <summary>
    /// Attempts of one operation when it fails for a reason that may pass (the lvm binary missing,
    /// an unreadable report, an I/O error): retried with exponential backoff (RetryBaseSeconds x 2^n,
    /// at most RetryMaxSeconds, +-20 % jitter), then the volume or attachment ends in error. LVM's and
    /// targetcli's own refusals are final at once.
    /// </summary>
    public int MaxAttempts { get; set; } = 5;

    /// <summary>MaxAttempts for one operation kind (Agent:MaxAttemptsByKind:delete=10); kinds not named use MaxAttempts.</summary>
    public Dictionary<string, int> MaxAttemptsByKind { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    public double RetryBaseSeconds { get; set; } = 2;
    public double RetryMaxSeconds { get; set; } = 60;

    /// <summary>Operations claimed per pass.</summary>
    public int ClaimBatch { get; set; } = 8;

    /// <summary>The LV reconcile pass (section "Agent:Reconcile").</summary>
    public ReconcileOptions Reconcile { get; set; } = new();

    /// <summary>iSCSI export through LIO/targetcli (section "Agent:Iscsi").</summary>
    public IscsiOptions Iscsi { get; set; } = new();

    /// <summary>
    /// Capabilities this host declares for volume types' extra specs (section "Agent:Capabilities",
    /// e.g. Agent:Capabilities:volume_backend_name=lvm-ssd, Agent:Capabilities:disk=ssd). Reported
    /// at every start. What the agent measures itself (backend_type, iscsi, snapshots, block_copy,
    /// availability_zone) cannot be declared: it is always the measured value.
    /// </summary>
    public Dictionary<string, string> Capabilities { get; set; } = new(StringComparer.Ordinal);
}
