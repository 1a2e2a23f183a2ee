using System.Management.Automation;
using BlockStore.Core;

namespace BlockStore.Commands;

/// <summary>
/// New-BlockVolumeAttachment: asks the volume's agent to export it over iSCSI to one initiator
/// (LIO target, LUN 0, an ACL with generated CHAP credentials) and returns the connection info:
/// TargetPortal, TargetIqn, TargetLun, AuthMethod, AuthUsername, AuthPassword (a SecureString).
/// Asking again for the same initiator returns the same attachment. A host without LIO fails at
/// once with TargetUnavailable.
/// </summary>
[Cmdlet(VerbsCommon.New, "BlockVolumeAttachment", DefaultParameterSetName = ById, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(BlockVolumeAttachment))]
public sealed class NewBlockVolumeAttachmentCommand : BlockStoreCmdlet
{
    private const string ById = "ById";
    private const string ByObject = "ByObject";
    private readonly RequestedItems<BlockVolumeAttachment> _requested;

    public NewBlockVolumeAttachmentCommand() => _requested = new(this);

    [Parameter(ParameterSetName = ById, Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Id")]
    [ArgumentCompleter(typeof(VolumeIdCompleter))]
    public Guid VolumeId { get; set; }

    [Parameter(ParameterSetName = ByObject, Mandatory = true, ValueFromPipeline = true)]
    public BlockVolume? InputObject { get; set; }

    /// <summary>The initiator's iSCSI name (iqn.yyyy-mm.domain:x); its ACL gets CHAP credentials.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [Alias("Initiator")]
    public string InitiatorIqn { get; set; } = "";

    [Parameter]
    public SwitchParameter Wait { get; set; }

    [Parameter]
    [ValidateRange(1, 86400)]
    public int TimeoutSec { get; set; } = 300;

    protected override void ProcessRecord()
    {
        var volumeId = InputObject?.Id ?? VolumeId;
        PerItem(() =>
        {
            // Validate and look the volume up before ShouldProcess: -WhatIf reports bad input and an
            // unknown volume too, and nothing is written.
            var initiator = Iscsi.NormalizeInitiator(InitiatorIqn);
            var volume = Run(ct => Session.Volumes.GetAsync(volumeId, ct));
            if (volume is null || volume.Status == VolumeStatus.Deleted)
            {
                throw new BlockStoreException(ErrorIds.VolumeNotFound, ErrorKind.ObjectNotFound, $"No volume with id {volumeId}.", volumeId);
            }

            if (!ShouldProcess($"volume {volume.Name} ({volume.Id}) for {initiator}", "Attach block volume over iSCSI"))
            {
                return;
            }

            var (attachment, existed) = Run(ct => Session.Attachments.RequestAttachAsync(volumeId, initiator, ct));
            if (existed)
            {
                WriteVerbose($"Initiator {initiator} already has attachment {attachment.Id} ({attachment.Status}): returning it.");
            }

            // One that is already attached (or failed) has nothing to wait for: written at once.
            _requested.Add(attachment, Wait && attachment.Status == AttachmentStatus.Attaching, write: true);
        });
    }

    protected override void EndProcessing() =>
        _requested.WaitAndReport(
            items => Run(ct => Task.FromResult(
                new AttachmentWaiter(this, Session.Attachments, ct).Wait(items, AttachmentStatus.Attaching, TimeoutSec, includeSecret: true, "Attaching block volumes"))),
            a => a.Status != AttachmentStatus.Error ? null : ToErrorRecord(ErrorIds.AttachmentFailed, ErrorKind.InvalidOperation,
                $"Attaching volume '{a.VolumeName}' for {a.InitiatorIqn} failed: {a.StatusReason}", a),
            write: true,
            a => ToErrorRecord(ErrorIds.WaitTimeout, ErrorKind.OperationTimeout,
                $"Attachment of volume '{a.VolumeName}' for {a.InitiatorIqn} is still {a.Status} after {TimeoutSec} s. The request goes on; Get-BlockVolumeAttachment shows it.", a));
}
