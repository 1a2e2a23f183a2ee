namespace BlockStore.Core;

// Output types. They live in the core assembly because it loads in PowerShell's default
// AssemblyLoadContext, where both the cmdlets and the isolated data engine can see them.

/// <summary>A block volume as users see it.</summary>
public sealed class BlockVolume
{
    public Guid Id { get; set; }
    public string Name { get; set; } = "";
    public int SizeGiB { get; set; }
    public string Status { get; set; } = "";
    public string? Host { get; set; }
    public string? Zone { get; set; }
    public string? Description { get; set; }
    public string? StatusReason { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime UpdatedAt { get; set; }
    /// <summary>Whether several initiators may attach at once.</summary>
    public bool MultiAttach { get; set; }
    /// <summary>The snapshot the volume was made from (New-BlockVolume -SnapshotId), else null.</summary>
    public Guid? SnapshotId { get; set; }
    /// <summary>The volume this one is a clone of (New-BlockVolume -SourceVolumeId), else null.</summary>
    public Guid? SourceVolumeId { get; set; }
    /// <summary>The project the volume belongs to (its quota is charged).</summary>
    public string Project { get; set; } = "";
    /// <summary>The volume type it was made with (its extra specs chose the host); null for a deleted volume whose type was removed since.</summary>
    public string? VolumeType { get; set; }
    public override string ToString() => Name;
}

/// <summary>A project: the owner of volumes (and through them snapshots, attachments and events), held to its quotas.</summary>
public sealed class BlockStoreProject
{
    public string Name { get; set; } = "";
    public string? Description { get; set; }
    /// <summary>Volumes of the project that are not deleted.</summary>
    public long Volumes { get; set; }
    /// <summary>GiB of those volumes and of their snapshots.</summary>
    public long Gigabytes { get; set; }
    public DateTime CreatedAt { get; set; }
    public string CreatedBy { get; set; } = "";
    public override string ToString() => Name;
}

/// <summary>A volume type: a name users ask for, and the extra specs the scheduler matches against hosts.</summary>
public sealed class BlockVolumeType
{
    public string Name { get; set; } = "";
    public string? Description { get; set; }
    public IReadOnlyDictionary<string, string> ExtraSpecs { get; set; } = new Dictionary<string, string>();
    /// <summary>The type of volumes requested without -VolumeType.</summary>
    public bool IsDefault { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime UpdatedAt { get; set; }
    public override string ToString() => Name;
}

/// <summary>
/// One quota line: a project's limit for a resource, over all volume types (VolumeType null) or
/// for one type, where the limit comes from, and (Get-BlockStoreQuota -Usage) what is in use.
/// </summary>
public sealed class BlockStoreQuota
{
    public string Project { get; set; } = "";
    public string? VolumeType { get; set; }
    /// <summary>volumes, gigabytes or snapshots.</summary>
    public string Resource { get; set; } = "";
    /// <summary>-1: no limit.</summary>
    public long Limit { get; set; }
    /// <summary>project (its own limit) or default (the default for every project without one).</summary>
    public string Source { get; set; } = "";
    /// <summary>With -Usage: what the project uses now; else null.</summary>
    public long? InUse { get; set; }
    /// <summary>With -Usage: what is left under the limit (null: no limit).</summary>
    public long? Free { get; set; }
}

/// <summary>
/// A point-in-time copy of a volume, kept on the volume's host (an LVM snapshot named by its id).
/// SizeGiB is the origin's size when it was taken.
/// </summary>
public sealed class BlockVolumeSnapshot
{
    public Guid Id { get; set; }
    public Guid VolumeId { get; set; }
    public string? VolumeName { get; set; }
    public string Name { get; set; } = "";
    public string? Description { get; set; }
    public int SizeGiB { get; set; }
    public string Status { get; set; } = "";
    public string? StatusReason { get; set; }
    public string Host { get; set; } = "";
    /// <summary>thin (shares the pool, no space set aside) or thick (a COW area as large as the origin).</summary>
    public string BackendType { get; set; } = "";
    public DateTime CreatedAt { get; set; }
    public DateTime UpdatedAt { get; set; }
    public override string ToString() => Name;
}

/// <summary>A scheduler or volume service, with its computed state and (for volume services) capacity.</summary>
public sealed class BlockVolumeService
{
    public string Host { get; set; } = "";
    public string Service { get; set; } = "";
    public string Zone { get; set; } = "";
    /// <summary>enabled or disabled.</summary>
    public string Status { get; set; } = "";
    /// <summary>up or down, computed from the database clock.</summary>
    public string State { get; set; } = "";
    public bool Frozen { get; set; }
    public string? DisabledReason { get; set; }
    public DateTime? UpdatedAt { get; set; }
    public DateTime? StartedAt { get; set; }
    public string? Version { get; set; }
    public string LogLevel { get; set; } = "Information";
    public decimal? CapacityGiB { get; set; }
    public decimal? FreeGiB { get; set; }
    public decimal? AllocatedGiB { get; set; }
    public decimal? ProvisionedGiB { get; set; }
    public string? BackendType { get; set; }
    public bool Healthy { get; set; } = true;
    public string? HealthReason { get; set; }
    public string? ModifiedBy { get; set; }
    /// <summary>Where the host serves Prometheus /metrics (and /healthz), as it reported at start; null when it serves none.</summary>
    public string? MetricsUrl { get; set; }
    public override string ToString() => $"{Host}/{Service}";
}

/// <summary>One recorded state change or failure.</summary>
public sealed class BlockVolumeEvent
{
    public long Id { get; set; }
    public DateTime Time { get; set; }
    public Guid? VolumeId { get; set; }
    public string? Host { get; set; }
    public string Kind { get; set; } = "";
    public string Message { get; set; } = "";
    public string? Actor { get; set; }
}

/// <summary>The log level of one running service.</summary>
public sealed class BlockVolumeServiceLogLevel
{
    public string Host { get; set; } = "";
    public string Service { get; set; } = "";
    public string Level { get; set; } = "";

    public static BlockVolumeServiceLogLevel Of(BlockVolumeService service) =>
        new() { Host = service.Host, Service = service.Service, Level = service.LogLevel };
}

/// <summary>The database a session uses. Never carries the password.</summary>
public sealed class BlockStoreConnectionInfo
{
    public string? Host { get; set; }
    public int Port { get; set; }
    public string? Database { get; set; }
    public string? Username { get; set; }
    public string Source { get; set; } = "";
}

/// <summary>
/// One initiator's access to one volume over iSCSI, with Cinder-style connection info
/// (target_portal, target_iqn, target_lun, auth_method, auth_username, auth_password).
/// AuthPassword is a SecureString and is filled only for whoever asked for the attachment
/// (New-BlockVolumeAttachment) or asked for it explicitly (-IncludeSecret): never in default views.
/// It stays in Core although Data fills it: PowerShell resolves [BlockStore.Core.BlockVolumeAttachment]
/// (casts, OutputType, views) only in assemblies of the default load context, and Data loads in the
/// module's dependency context (tests/BlockStore.Commands.Tests show both).
/// </summary>
public sealed class BlockVolumeAttachment
{
    public Guid Id { get; set; }
    public Guid VolumeId { get; set; }
    public string? VolumeName { get; set; }
    public string Host { get; set; } = "";
    public string InitiatorIqn { get; set; } = "";
    public string Status { get; set; } = "";
    public string? StatusReason { get; set; }
    public string? TargetPortal { get; set; }
    public string? TargetIqn { get; set; }
    public int? TargetLun { get; set; }
    public string AuthMethod { get; set; } = "CHAP";
    public string? AuthUsername { get; set; }
    public System.Security.SecureString? AuthPassword { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime UpdatedAt { get; set; }
    public override string ToString() => $"{VolumeName ?? VolumeId.ToString()} -> {InitiatorIqn}";
}

/// <summary>
/// The outcome of Register-BlockVolumeHost: the host's database role and where its agent
/// configuration went. Configuration (which holds the password) is only set when no file was written.
/// </summary>
/// <summary>A project's tenant login: its role and where its connection was written (or the connection itself).</summary>
public sealed class BlockStoreTenantRegistration
{
    public string Project { get; set; } = "";
    public string Role { get; set; } = "";
    public string? ConnectionPath { get; set; }
    /// <summary>The tenant's connection string (with its password) when no -OutFile was given; else null.</summary>
    public string? ConnectionString { get; set; }
    public override string ToString() => Project;
}

public sealed class BlockVolumeHostRegistration
{
    public string HostName { get; set; } = "";
    public string? Zone { get; set; }
    public string Role { get; set; } = "";
    public string? ConfigurationPath { get; set; }
    public string? Configuration { get; set; }
    public override string ToString() => HostName;
}
