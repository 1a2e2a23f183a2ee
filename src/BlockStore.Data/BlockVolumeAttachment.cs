using System.Security;

// The namespace stays BlockStore.Core although the class lives in the Data assembly: it is the
// type name PowerShell shows and formats (module/BlockStore.Format.ps1xml, the help's OUTPUTS).
// It lives here, not in Core, because it carries a SecureString; Core keeps only pure rules.
namespace BlockStore.Core;

/// <summary>
/// One initiator's access to one volume over iSCSI, with Cinder-style connection info
/// (target_portal, target_iqn, target_lun, auth_method, auth_username, auth_password).
/// AuthPassword is a SecureString and is filled only for whoever asked for the attachment
/// (New-BlockVolumeAttachment) or asked for it explicitly (-IncludeSecret): never in default views.
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
    public SecureString? AuthPassword { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime UpdatedAt { get; set; }
    public override string ToString() => $"{VolumeName ?? VolumeId.ToString()} -> {InitiatorIqn}";
}
