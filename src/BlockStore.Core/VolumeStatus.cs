namespace BlockStore.Core;

/// <summary>Volume status names, as Cinder spells them (users and runbooks know them).</summary>
public static class VolumeStatus
{
    public const string Creating = "creating";
    public const string Available = "available";
    public const string Deleting = "deleting";
    public const string Deleted = "deleted";
    public const string Error = "error";
    public const string ErrorDeleting = "error_deleting";

    public static readonly IReadOnlyList<string> All = [Creating, Available, Deleting, Deleted, Error, ErrorDeleting];

    /// <summary>Statuses in which nothing more happens until a user asks.</summary>
    public static bool IsFinal(string status) =>
        status is Available or Deleted or Error or ErrorDeleting;
}

/// <summary>What an operation row asks for.</summary>
public static class OperationKind
{
    public const string Create = "create";
    public const string Delete = "delete";
}

/// <summary>
/// Where an operation is in the queue. pending: waits for a scheduler; scheduled: placed on a host,
/// waits for that host's agent; running: claimed under a lease; then one of the final stages.
/// </summary>
public static class OperationStage
{
    public const string Pending = "pending";
    public const string Scheduled = "scheduled";
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";
}

/// <summary>
/// The volume state machine: which status may follow which. The data layer asserts every change
/// against it, so no code path can, for example, move a deleted volume back to available.
/// </summary>
public static class VolumeStateMachine
{
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        [VolumeStatus.Creating] = [VolumeStatus.Available, VolumeStatus.Error, VolumeStatus.Deleting, VolumeStatus.Deleted],
        [VolumeStatus.Available] = [VolumeStatus.Deleting],
        // error -> deleted: a volume that failed placement never reached a host, so there is
        // nothing to remove anywhere and no agent to ask.
        [VolumeStatus.Error] = [VolumeStatus.Deleting, VolumeStatus.Deleted],
        [VolumeStatus.Deleting] = [VolumeStatus.Deleted, VolumeStatus.ErrorDeleting],
        [VolumeStatus.ErrorDeleting] = [VolumeStatus.Deleting],
        [VolumeStatus.Deleted] = [],
    };

    public static bool CanMove(string from, string to) =>
        Allowed.TryGetValue(from, out var next) && next.Contains(to);

    /// <summary>Deletion may be requested from every status but deleting/deleted.</summary>
    public static bool CanRequestDelete(string status) =>
        status is VolumeStatus.Creating or VolumeStatus.Available or VolumeStatus.Error or VolumeStatus.ErrorDeleting;
}
