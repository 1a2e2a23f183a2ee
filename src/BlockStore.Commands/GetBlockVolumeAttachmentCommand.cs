using System.Management.Automation;
using BlockStore.Core;
using BlockStore.Data;

namespace BlockStore.Commands;

/// <summary>
/// Get-BlockVolumeAttachment: lists attachments (all, a volume's, an initiator's). The CHAP
/// secret is read only with -IncludeSecret, and even then arrives as a SecureString.
/// </summary>
[Cmdlet(VerbsCommon.Get, "BlockVolumeAttachment")]
[OutputType(typeof(BlockVolumeAttachment))]
public sealed class GetBlockVolumeAttachmentCommand : BlockStoreCmdlet
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Id")]
    [ArgumentCompleter(typeof(VolumeIdCompleter))]
    public Guid[]? VolumeId { get; set; }

    [Parameter]
    [Alias("Initiator")]
    public string? InitiatorIqn { get; set; }

    /// <summary>Also lists attachments that were detached (history).</summary>
    [Parameter]
    public SwitchParameter IncludeDetached { get; set; }

    /// <summary>Fills AuthPassword (SecureString). Operators and the attaching host only.</summary>
    [Parameter]
    public SwitchParameter IncludeSecret { get; set; }

    /// <summary>Only the attachments of these projects' volumes.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(ProjectNameCompleter))]
    public string[]? Project { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var project in Project ?? [])
        {
            Terminating(() => { TenancyValidation.ProjectName(project); return 0; });
        }

        var list = Terminating(() =>
        {
            var filter = new AttachmentFilter(VolumeId, null, InitiatorIqn, IncludeDetached, IncludeSecret, Project);
            return Run(ct => Session.Attachments.ListAsync(filter, ct));
        });
        WriteObject(list, enumerateCollection: true);

        // A volume without attachments is normal; an id that names no volume at all is a mistake
        // (a mistyped id): VolumeNotFound, like Get-BlockVolume. Deleted volumes keep their history.
        var unattached = (VolumeId ?? []).Where(id => list.All(a => a.VolumeId != id)).ToList();
        if (unattached.Count > 0)
        {
            var known = Terminating(() => Run(ct => Session.Volumes.ListAsync(new VolumeFilter(Ids: unattached, IncludeDeleted: true), ct)));
            foreach (var id in unattached.Where(id => known.All(v => v.Id != id)))
            {
                WriteError(ToErrorRecord(ErrorIds.VolumeNotFound, ErrorKind.ObjectNotFound, $"No volume with id {id}.", id));
            }
        }
    }
}
