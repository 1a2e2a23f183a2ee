using System.Management.Automation;
using BlockStore.Core;
using BlockStore.Data;

namespace BlockStore.Commands;

/// <summary>
/// Remove-BlockVolume: asks for deletion. A volume still being created is removed once creation
/// settles. With -Wait, returns when the volumes are deleted (or failed to delete).
/// </summary>
[Cmdlet(VerbsCommon.Remove, "BlockVolume", DefaultParameterSetName = ById, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(BlockVolume))]
public sealed class RemoveBlockVolumeCommand : BlockStoreCmdlet
{
    private const string ById = "ById";
    private const string ByName = "ByName";
    private readonly RequestedItems<BlockVolume> _removing;

    public RemoveBlockVolumeCommand() => _removing = new(this);

    [Parameter(ParameterSetName = ById, Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("VolumeId")]
    [ArgumentCompleter(typeof(VolumeIdCompleter))]
    public Guid[] Id { get; set; } = [];

    [Parameter(ParameterSetName = ByName, Mandatory = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(VolumeNameCompleter))]
    public string[] Name { get; set; } = [];

    [Parameter]
    public SwitchParameter Wait { get; set; }

    [Parameter]
    [ValidateRange(1, 86400)]
    public int TimeoutSec { get; set; } = 300;

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <summary>Deletes an attached (in-use) volume too: its attachments are detached first.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Removes the volume's snapshots first (without it, a volume with snapshots is refused: VolumeHasSnapshots).</summary>
    [Parameter]
    public SwitchParameter Cascade { get; set; }

    protected override void ProcessRecord()
    {
        // By id, a deleted volume is found (and left alone): removing it again is no error.
        var targets = VolumeLookup.Find(this, ParameterSetName == ByName ? Name : null, ParameterSetName == ById ? Id : null, includeDeletedIds: true);

        foreach (var volume in targets.Where(v => v.Status != VolumeStatus.Deleted))
        {
            PerItem(() =>
            {
                if (!ShouldProcess($"{volume.Name} ({volume.Id}, {volume.SizeGiB} GiB, {volume.Status})", "Remove block volume"))
                {
                    return;
                }

                var updated = Run(ct => Session.Volumes.RequestDeleteAsync(volume.Id, Force.IsPresent, Cascade.IsPresent, ct));
                _removing.Add(updated, Wait, PassThru);
            });
        }
    }

    protected override void EndProcessing() =>
        _removing.WaitAndReport(
            items => Run(ct => Task.FromResult(
                new VolumeWaiter(this, Session.Volumes, ct).Wait(items, [VolumeStatus.Deleted], TimeoutSec, "Removing block volumes"))),
            v => v.Status == VolumeStatus.Deleted ? null : ToErrorRecord(ErrorIds.InvalidVolumeState, ErrorKind.InvalidOperation,
                $"Volume '{v.Name}' ended {v.Status}: {v.StatusReason}", v),
            PassThru,
            v => ToErrorRecord(ErrorIds.WaitTimeout, ErrorKind.OperationTimeout,
                $"Volume '{v.Name}' is still {v.Status} after {TimeoutSec} s. The deletion goes on; use Wait-BlockVolume to wait again.", v));
}
