using System.Management.Automation;
using BlockStore.Core;
using BlockStore.Data;

namespace BlockStore.Commands;

/// <summary>
/// Remove-BlockVolumeAttachment: removes an initiator's access (its ACL; with the last attachment
/// also the LUN, target and backstore). The volume returns to available when no initiator is left.
/// </summary>
[Cmdlet(VerbsCommon.Remove, "BlockVolumeAttachment", DefaultParameterSetName = ById, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(BlockVolumeAttachment))]
public sealed class RemoveBlockVolumeAttachmentCommand : BlockStoreCmdlet
{
    private const string ById = "ById";
    private const string ByVolume = "ByVolume";
    private readonly RequestedItems<BlockVolumeAttachment> _removing;

    public RemoveBlockVolumeAttachmentCommand() => _removing = new(this);

    /// <summary>Attachment ids (pipe Get-BlockVolumeAttachment in).</summary>
    [Parameter(ParameterSetName = ById, Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("AttachmentId")]
    public Guid[] Id { get; set; } = [];

    [Parameter(ParameterSetName = ByVolume, Mandatory = true)]
    public Guid VolumeId { get; set; }

    /// <summary>With -VolumeId: only this initiator's attachment (else every attachment of the volume).</summary>
    [Parameter(ParameterSetName = ByVolume)]
    [Alias("Initiator")]
    public string? InitiatorIqn { get; set; }

    [Parameter]
    public SwitchParameter Wait { get; set; }

    [Parameter]
    [ValidateRange(1, 86400)]
    public int TimeoutSec { get; set; } = 300;

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        List<BlockVolumeAttachment> targets;
        if (ParameterSetName == ByVolume)
        {
            targets = Terminating(() =>
            {
                var filter = new AttachmentFilter([VolumeId], null, InitiatorIqn);
                return Run(ct => Session.Attachments.ListAsync(filter, ct));
            });
            if (targets.Count == 0)
            {
                // A volume that does not exist is reported as such, not as a volume without attachments.
                var volume = Terminating(() => Run(ct => Session.Volumes.GetAsync(VolumeId, ct)));
                WriteError(volume is null || volume.Status == VolumeStatus.Deleted
                    ? ToErrorRecord(ErrorIds.VolumeNotFound, ErrorKind.ObjectNotFound, $"No volume with id {VolumeId}.", VolumeId)
                    : ToErrorRecord(ErrorIds.AttachmentNotFound, ErrorKind.ObjectNotFound,
                        $"Volume '{volume.Name}' ({VolumeId}) has no attachment{(InitiatorIqn is null ? "" : $" for {InitiatorIqn}")}.", VolumeId));
            }
        }
        else
        {
            targets = Terminating(() => Run(ct => Session.Attachments.ListAsync(new AttachmentFilter(Ids: Id), ct)));
            foreach (var id in Id.Where(id => targets.All(a => a.Id != id)))
            {
                WriteError(ToErrorRecord(ErrorIds.AttachmentNotFound, ErrorKind.ObjectNotFound, $"No attachment with id {id}.", id));
            }
        }

        foreach (var a in targets.Where(a => a.Status != AttachmentStatus.Detached))
        {
            PerItem(() =>
            {
                if (!ShouldProcess($"volume {a.VolumeName} ({a.VolumeId}) for {a.InitiatorIqn}", "Detach block volume"))
                {
                    return;
                }

                var updated = Run(ct => Session.Attachments.RequestDetachAsync(a.Id, ct));
                _removing.Add(updated, Wait, PassThru);
            });
        }
    }

    protected override void EndProcessing() =>
        _removing.WaitAndReport(
            items => Run(ct => Task.FromResult(
                new AttachmentWaiter(this, Session.Attachments, ct).Wait(items, AttachmentStatus.Detaching, TimeoutSec, includeSecret: false, "Detaching block volumes"))),
            a => a.Status == AttachmentStatus.Detached ? null : ToErrorRecord(ErrorIds.AttachmentFailed, ErrorKind.InvalidOperation,
                $"Detaching volume '{a.VolumeName}' from {a.InitiatorIqn} ended {a.Status}: {a.StatusReason}", a),
            PassThru,
            a => ToErrorRecord(ErrorIds.WaitTimeout, ErrorKind.OperationTimeout,
                $"Detaching volume '{a.VolumeName}' from {a.InitiatorIqn} is still {a.Status} after {TimeoutSec} s. The request goes on.", a));
}
