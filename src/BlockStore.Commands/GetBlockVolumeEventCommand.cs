using System.Management.Automation;
using BlockStore.Core;

namespace BlockStore.Commands;

/// <summary>Get-BlockVolumeEvent: the recorded history of a volume (or of everything), oldest first.</summary>
[Cmdlet(VerbsCommon.Get, "BlockVolumeEvent")]
[OutputType(typeof(BlockVolumeEvent))]
public sealed class GetBlockVolumeEventCommand : BlockStoreCmdlet
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Id")]
    [ArgumentCompleter(typeof(VolumeIdCompleter))]
    public Guid? VolumeId { get; set; }

    [Parameter]
    [ValidateRange(1, 100000)]
    public int Last { get; set; } = 200;

    protected override void ProcessRecord()
    {
        var events = Terminating(() => Run(ct => Session.Volumes.ListEventsAsync(VolumeId, Last, ct)));
        WriteObject(events, enumerateCollection: true);

        // Every volume has events from its request on, so none means no such volume, perhaps a
        // mistyped id: say so rather than return nothing. (A deleted volume keeps its history.)
        if (VolumeId is { } id && events.Count == 0 && Terminating(() => Run(ct => Session.Volumes.GetAsync(id, ct))) is null)
        {
            WriteError(ToErrorRecord(ErrorIds.VolumeNotFound, ErrorKind.ObjectNotFound, $"No volume with id {id}.", id));
        }
    }
}
