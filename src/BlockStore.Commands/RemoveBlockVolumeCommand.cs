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

    protected override void ProcessRecord()
    {
        List<BlockVolume> targets;
        if (ParameterSetName == ByName)
        {
            foreach (var n in Name)
            {
                Terminating(() => { WildcardTranslator.Validate(n); return 0; });
            }

            targets = Terminating(() => Run(ct => Session.Volumes.ListAsync(new VolumeFilter(NamePatterns: Name), ct)));
            foreach (var n in Name.Where(n => !WildcardPattern.ContainsWildcardCharacters(n) && !targets.Any(v => string.Equals(v.Name, WildcardTranslator.Unescape(n), StringComparison.OrdinalIgnoreCase))))
            {
                WriteError(ToErrorRecord(ErrorIds.VolumeNotFound, ErrorKind.ObjectNotFound, $"No volume named '{n}'.", n));
            }
        }
        else
        {
            targets = Terminating(() => Run(ct => Session.Volumes.ListAsync(new VolumeFilter(Ids: Id, IncludeDeleted: true), ct)));
            foreach (var id in Id.Where(id => targets.All(v => v.Id != id)))
            {
                WriteError(ToErrorRecord(ErrorIds.VolumeNotFound, ErrorKind.ObjectNotFound, $"No volume with id {id}.", id));
            }
        }

        foreach (var volume in targets.Where(v => v.Status != VolumeStatus.Deleted))
        {
            PerItem(() =>
            {
                if (!ShouldProcess($"{volume.Name} ({volume.Id}, {volume.SizeGiB} GiB, {volume.Status})", "Remove block volume"))
                {
                    return;
                }

                var updated = Run(ct => Session.Volumes.RequestDeleteAsync(volume.Id, Force.IsPresent, ct));
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
