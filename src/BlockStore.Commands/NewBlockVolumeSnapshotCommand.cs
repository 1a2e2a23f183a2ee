using System.Management.Automation;
using BlockStore.Core;
using BlockStore.Data;

namespace BlockStore.Commands;

/// <summary>
/// New-BlockVolumeSnapshot: asks for a point-in-time snapshot of volumes, made by each volume's
/// own agent (an LVM snapshot beside the origin). The request is checked at once (volume status,
/// whether the host can snapshot, the name, room for a thick COW area) and writes nothing when
/// refused. An in-use volume is refused without -Force, as in Cinder. With -Wait, returns when the
/// snapshots are available (or error, with the LVM message in StatusReason).
/// </summary>
[Cmdlet(VerbsCommon.New, "BlockVolumeSnapshot", DefaultParameterSetName = ByObject, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(BlockVolumeSnapshot))]
public sealed class NewBlockVolumeSnapshotCommand : BlockStoreCmdlet
{
    private const string ById = "ById";
    private const string ByObject = "ByObject";
    private readonly RequestedItems<BlockVolumeSnapshot> _requested;

    public NewBlockVolumeSnapshotCommand() => _requested = new(this);

    [Parameter(ParameterSetName = ById, Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(VolumeIdCompleter))]
    public Guid[] VolumeId { get; set; } = [];

    /// <summary>Volumes from Get-BlockVolume or New-BlockVolume -Wait.</summary>
    [Parameter(ParameterSetName = ByObject, Mandatory = true, ValueFromPipeline = true)]
    public BlockVolume[] InputObject { get; set; } = [];

    [Parameter(Mandatory = true, Position = 1)]
    public string Name { get; set; } = "";

    [Parameter]
    public string? Description { get; set; }

    /// <summary>Snapshots an in-use (attached) volume too: the data is what was on disk, not what the initiator still caches.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    [Parameter]
    public SwitchParameter Wait { get; set; }

    [Parameter]
    [ValidateRange(1, 86400)]
    public int TimeoutSec { get; set; } = 300;

    protected override void BeginProcessing()
    {
        base.BeginProcessing();
        // A bad name or description is wrong for every volume: refuse it before anything is read.
        Terminating(() =>
        {
            Validation.SnapshotName(Name);
            Validation.Description(Description);
            return 0;
        });
    }

    protected override void ProcessRecord()
    {
        var ids = ParameterSetName == ByObject ? InputObject.Select(v => v.Id).ToArray() : VolumeId;
        foreach (var volume in VolumeLookup.Find(this, null, ids))
        {
            PerItem(() =>
            {
                if (!ShouldProcess($"{volume.Name} ({volume.Id}, {volume.SizeGiB} GiB, {volume.Status})", $"Snapshot block volume as '{Name}'"))
                {
                    return;
                }

                var snapshot = Run(ct => Session.Snapshots.CreateAsync(volume.Id, Name, Description, Force.IsPresent, ct));
                _requested.Add(snapshot, Wait, write: true);
            });
        }
    }

    /// <summary>A snapshot that ends in error is written as it is (its Status and StatusReason say so), as New-BlockVolume does.</summary>
    protected override void EndProcessing() =>
        _requested.WaitAndReport(
            items => Run(ct => Task.FromResult(new SnapshotWaiter(this, Session.Snapshots, Session.Volumes, ct).Wait(items, TimeoutSec, "Creating snapshots"))),
            failure: _ => null,
            write: true,
            s => ToErrorRecord(ErrorIds.WaitTimeout, ErrorKind.OperationTimeout,
                $"Snapshot '{s.Name}' of '{s.VolumeName}' is still {s.Status} after {TimeoutSec} s. The request goes on; use Get-BlockVolumeSnapshot to see it.", s));
}
