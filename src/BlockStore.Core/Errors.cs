namespace BlockStore.Core;

/// <summary>
/// What kind of failure an error is. The cmdlets map it to a PowerShell ErrorCategory; the core
/// library stays free of System.Management.Automation so the hosts can share it.
/// </summary>
public enum ErrorKind
{
    InvalidArgument,
    ObjectNotFound,
    ResourceExists,
    ResourceUnavailable,
    InvalidOperation,
    OperationTimeout,
    ConnectionError,
    PermissionDenied,
    QuotaExceeded,
}

/// <summary>
/// The catalogue of stable ErrorIds. Tests pin these strings, users script against them:
/// never rename one, only add. Each is documented in docs/about_BlockStore.md.
/// </summary>
public static class ErrorIds
{
    public const string InvalidVolumeName = "InvalidVolumeName";
    public const string InvalidVolumeSize = "InvalidVolumeSize";
    public const string InvalidDescription = "InvalidDescription";
    public const string InvalidAvailabilityZone = "InvalidAvailabilityZone";
    public const string InvalidHostName = "InvalidHostName";
    public const string InvalidReason = "InvalidReason";
    public const string InvalidLogLevel = "InvalidLogLevel";
    public const string VolumeNameInUse = "VolumeNameInUse";
    public const string VolumeNotFound = "VolumeNotFound";
    public const string ServiceNotFound = "ServiceNotFound";
    public const string SchedulerUnavailable = "SchedulerUnavailable";
    public const string WaitTimeout = "WaitTimeout";
    public const string NotConnected = "NotConnected";
    public const string StoreUnavailable = "StoreUnavailable";
    public const string InvalidVolumeState = "InvalidVolumeState";
    public const string InvalidServiceChange = "InvalidServiceChange";
    public const string InvalidInitiatorIqn = "InvalidInitiatorIqn";
    public const string TargetUnavailable = "TargetUnavailable";
    public const string VolumeInUse = "VolumeInUse";
    public const string AttachmentNotFound = "AttachmentNotFound";
    public const string AttachmentFailed = "AttachmentFailed";
    public const string PermissionDenied = "PermissionDenied";
    public const string HostNotRegistered = "HostNotRegistered";
    public const string HostRoleConflict = "HostRoleConflict";
    public const string InvalidOutFile = "InvalidOutFile";
    public const string InvalidVolumeStatus = "InvalidVolumeStatus";
    public const string InvalidWildcardPattern = "InvalidWildcardPattern";
    public const string InsufficientCapacity = "InsufficientCapacity";
    public const string InvalidSnapshotName = "InvalidSnapshotName";
    public const string SnapshotNameInUse = "SnapshotNameInUse";
    public const string SnapshotNotFound = "SnapshotNotFound";
    public const string InvalidSnapshotState = "InvalidSnapshotState";
    public const string SnapshotUnsupported = "SnapshotUnsupported";
    public const string VolumeHasSnapshots = "VolumeHasSnapshots";
    public const string InvalidSnapshotStatus = "InvalidSnapshotStatus";
    public const string CloneUnsupported = "CloneUnsupported";
    public const string SnapshotNotLatest = "SnapshotNotLatest";
    public const string QuotaExceeded = "QuotaExceeded";
    public const string InvalidProjectName = "InvalidProjectName";
    public const string ProjectNotFound = "ProjectNotFound";
    public const string ProjectNameInUse = "ProjectNameInUse";
    public const string ProjectNotEmpty = "ProjectNotEmpty";
    public const string InvalidQuotaLimit = "InvalidQuotaLimit";
    public const string InvalidVolumeTypeName = "InvalidVolumeTypeName";
    public const string VolumeTypeNotFound = "VolumeTypeNotFound";
    public const string VolumeTypeNameInUse = "VolumeTypeNameInUse";
    public const string VolumeTypeInUse = "VolumeTypeInUse";
    public const string InvalidExtraSpec = "InvalidExtraSpec";
    public const string TenantRoleConflict = "TenantRoleConflict";
    public const string TenantNotRegistered = "TenantNotRegistered";
}

/// <summary>A failure the user can act on, carrying its stable ErrorId.</summary>
public sealed class BlockStoreException : Exception
{
    public BlockStoreException(string errorId, ErrorKind kind, string message, object? target = null, Exception? inner = null)
        : base(message, inner)
    {
        ErrorId = errorId;
        Kind = kind;
        Target = target;
    }

    public string ErrorId { get; }
    public ErrorKind Kind { get; }
    public object? Target { get; }
}
