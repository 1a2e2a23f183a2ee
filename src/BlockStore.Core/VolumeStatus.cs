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
    public const string Attaching = "attaching";
    public const string InUse = "in-use";
    public const string Detaching = "detaching";

    /// <summary>Resize-BlockVolume: the LV grows on its host; back to available (in-use when exported) either way (a failure says why in StatusReason).</summary>
    public const string Extending = "extending";

    /// <summary>Restore-BlockVolume: the LV goes back to a snapshot; available again either way (a failure says why in StatusReason).</summary>
    public const string Reverting = "reverting";

    public static readonly IReadOnlyList<string> All = [Creating, Available, Deleting, Deleted, Error, ErrorDeleting, Attaching, InUse, Detaching, Extending, Reverting];

    /// <summary>Statuses in which nothing more happens until a user asks.</summary>
    public static bool IsFinal(string status) =>
        status is Available or Deleted or Error or ErrorDeleting or InUse;

    /// <summary>Statuses in which the volume is (or is becoming) exported to an initiator.</summary>
    public static bool IsAttached(string status) => status is Attaching or InUse or Detaching;
}

/// <summary>What an operation row asks for.</summary>
public static class OperationKind
{
    public const string Create = "create";
    public const string Delete = "delete";
    public const string Attach = "attach";
    public const string Detach = "detach";
    public const string Extend = "extend";
    public const string SnapshotCreate = "snapshot-create";
    public const string SnapshotDelete = "snapshot-delete";
    public const string Revert = "revert";

    public static bool IsSnapshot(string kind) => kind is SnapshotCreate or SnapshotDelete;
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
        [VolumeStatus.Available] = [VolumeStatus.Deleting, VolumeStatus.Attaching, VolumeStatus.Extending, VolumeStatus.Reverting],
        // extending: back to what its attachments imply (FromAttachments) when the LV has grown, and
        // when it could not (the size is restored): available, in-use (an extend while exported), or
        // attaching/detaching (an attach or detach asked for meanwhile runs next, in queue order).
        [VolumeStatus.Extending] = [VolumeStatus.Available, VolumeStatus.InUse, VolumeStatus.Attaching, VolumeStatus.Detaching],
        // reverting: back to available when the LV holds the snapshot's data, and when it could not (the reason says so).
        [VolumeStatus.Reverting] = [VolumeStatus.Available],
        // attaching: back to available (or in-use, when another initiator stays attached) on failure.
        [VolumeStatus.Attaching] = [VolumeStatus.InUse, VolumeStatus.Available, VolumeStatus.Detaching, VolumeStatus.Deleting],
        // in-use -> attaching: a second initiator of a multiattach volume. in-use -> deleting: -Force.
        // in-use -> extending: an exported volume grows online (CanRequestExtend).
        [VolumeStatus.InUse] = [VolumeStatus.Detaching, VolumeStatus.Attaching, VolumeStatus.Deleting, VolumeStatus.Extending],
        // detaching -> in-use: other initiators stay attached, or the detach failed.
        [VolumeStatus.Detaching] = [VolumeStatus.Available, VolumeStatus.InUse, VolumeStatus.Attaching, VolumeStatus.Deleting],
        // error -> deleted: a volume that failed placement never reached a host, so there is
        // nothing to remove anywhere and no agent to ask.
        [VolumeStatus.Error] = [VolumeStatus.Deleting, VolumeStatus.Deleted],
        [VolumeStatus.Deleting] = [VolumeStatus.Deleted, VolumeStatus.ErrorDeleting],
        [VolumeStatus.ErrorDeleting] = [VolumeStatus.Deleting],
        [VolumeStatus.Deleted] = [],
    };

    public static bool CanMove(string from, string to) =>
        Allowed.TryGetValue(from, out var next) && next.Contains(to);

    /// <summary>
    /// Whether a volume may be extended now: an available one, and an in-use one when its host
    /// exports with LIO's block (iblock) backstore (<paramref name="hostExportsWithLio"/>: the
    /// agent reports an iSCSI target). iblock answers every READ CAPACITY with the block device's
    /// size at that moment, so after lvextend the initiator sees the new size (measured through a
    /// real LIO target in the lab guest: tests/pester/VolumeExtend.Tests.ps1); on a host that does
    /// not report LIO that is not proven, so it is refused. attaching/detaching wait for their
    /// export operation; any other status for its running operation.
    /// </summary>
    public static bool CanRequestExtend(string status, bool hostExportsWithLio) =>
        status == VolumeStatus.Available || (status == VolumeStatus.InUse && hostExportsWithLio);

    /// <summary>
    /// Deletion may be requested from every status but deleting/deleted; an attached volume
    /// (attaching, in-use, detaching) only with force, which detaches it first.
    /// </summary>
    public static bool CanRequestDelete(string status, bool force = false) =>
        status is VolumeStatus.Creating or VolumeStatus.Available or VolumeStatus.Error or VolumeStatus.ErrorDeleting
        || (force && VolumeStatus.IsAttached(status));

    /// <summary>
    /// Whether a new initiator may attach: an available volume always; an in-use one only when it
    /// is multiattach. attaching/detaching wait for the running operation (the queue orders them).
    /// </summary>
    public static bool CanRequestAttach(string status, bool multiattach) =>
        status == VolumeStatus.Available || (multiattach && status is VolumeStatus.InUse or VolumeStatus.Attaching or VolumeStatus.Detaching);

    /// <summary>
    /// The volume status its attachments imply, once an attach or detach has finished: an
    /// operation still in flight wins (attaching, then detaching), then any attached initiator
    /// makes it in-use; failed and detached attachments hold no export, so none left is available.
    /// </summary>
    public static string FromAttachments(IEnumerable<string> attachmentStatuses)
    {
        var s = attachmentStatuses.ToList();
        return s.Contains(AttachmentStatus.Attaching) ? VolumeStatus.Attaching
            : s.Contains(AttachmentStatus.Detaching) ? VolumeStatus.Detaching
            : s.Contains(AttachmentStatus.Attached) ? VolumeStatus.InUse
            : VolumeStatus.Available;
    }
}

/// <summary>Attachment status names (Cinder's attach_status, spelled for this module).</summary>
public static class AttachmentStatus
{
    public const string Attaching = "attaching";
    public const string Attached = "attached";
    public const string Detaching = "detaching";
    public const string Detached = "detached";
    public const string Error = "error";

    /// <summary>Live attachments hold (or are about to hold) an ACL on the host.</summary>
    public static bool IsLive(string status) => status != Detached;
}

/// <summary>What an attach request does about the initiator's own current attachment on the volume.</summary>
public enum AttachRequestAction
{
    /// <summary>The initiator has no live attachment: a new one, with new CHAP credentials.</summary>
    Create,

    /// <summary>Attaching, attached (or being detached): asking twice returns the same attachment.</summary>
    ReturnExisting,

    /// <summary>
    /// The last attempt failed: it is closed as history (detached, its reason kept, naming the new
    /// one) and a new attachment with new credentials is made, as an operator who asks again expects.
    /// </summary>
    SupersedeFailed,
}

/// <summary>Rules for a repeated attach request of the same initiator.</summary>
public static class AttachRequestRules
{
    /// <summary>The action for an attach request, given the status of the initiator's live attachment (null: none).</summary>
    public static AttachRequestAction ForInitiator(string? currentStatus) => currentStatus switch
    {
        null or AttachmentStatus.Detached => AttachRequestAction.Create,
        AttachmentStatus.Error => AttachRequestAction.SupersedeFailed,
        _ => AttachRequestAction.ReturnExisting,
    };

    /// <summary>The reason a superseded failed attachment keeps: why it failed, and which attachment replaced it.</summary>
    public static string SupersededReason(Guid replacement, string? failure) =>
        $"superseded by attachment {replacement}; it had failed: {(string.IsNullOrWhiteSpace(failure) ? "(no reason recorded)" : failure)}";
}
