using System.Management.Automation;
using BlockStore.Core;
using BlockStore.Data;

namespace BlockStore.Commands;

/// <summary>
/// Restore-BlockVolume: reverts volumes to a snapshot (Cinder's revert-to-snapshot). Only to the
/// volume's most recent snapshot and only while the volume is available; checked at once, nothing
/// written when refused. The volume is 'reverting' while its agent merges the snapshot back, then
/// available again (with the reason when the revert failed). Overwrites the volume's data, so it
/// asks for confirmation. With -Wait, returns when the volumes are available again.
/// </summary>
[Cmdlet(VerbsData.Restore, "BlockVolume", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(BlockVolume))]
public sealed class RestoreBlockVolumeCommand : BlockStoreCmdlet
{
    private readonly RequestedItems<BlockVolume> _reverting;

    public RestoreBlockVolumeCommand() => _reverting = new(this);

    /// <summary>The snapshot to go back to; snapshots piped from Get-BlockVolumeSnapshot bind by their Id.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Id")]
    [ArgumentCompleter(typeof(SnapshotIdCompleter))]
    public Guid[] SnapshotId { get; set; } = [];

    [Parameter]
    public SwitchParameter Wait { get; set; }

    [Parameter]
    [ValidateRange(1, 86400)]
    public int TimeoutSec { get; set; } = 300;

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var found = Terminating(() => Run(ct => Session.Snapshots.ListAsync(new SnapshotFilter(Ids: SnapshotId), ct)));
        foreach (var missing in SnapshotId.Except(found.Select(s => s.Id)))
        {
            WriteError(ToErrorRecord(ErrorIds.SnapshotNotFound, ErrorKind.ObjectNotFound, $"No snapshot with id {missing}.", missing));
        }

        foreach (var snapshot in found)
        {
            PerItem(() =>
            {
                if (!ShouldProcess($"{snapshot.VolumeName} ({snapshot.VolumeId}) to snapshot {snapshot.Name} of {snapshot.CreatedAt.ToLocalTime():yyyy-MM-dd HH:mm:ss}",
                        "Revert block volume (its data since the snapshot is lost)"))
                {
                    return;
                }

                var volume = Run(ct => Session.Snapshots.RequestRevertAsync(snapshot.Id, ct));
                _reverting.Add(volume, Wait, PassThru);
            });
        }
    }

    protected override void EndProcessing() =>
        _reverting.WaitAndReport(
            items => Run(ct => Task.FromResult(
                new VolumeWaiter(this, Session.Volumes, ct).Wait(items, [VolumeStatus.Available], TimeoutSec, "Reverting block volumes"))),
            v => v.Status == VolumeStatus.Available && v.StatusReason is null ? null : ToErrorRecord(ErrorIds.InvalidVolumeState, ErrorKind.InvalidOperation,
                $"Volume '{v.Name}' was not reverted: it is {v.Status} ({v.StatusReason}).", v),
            PassThru,
            v => ToErrorRecord(ErrorIds.WaitTimeout, ErrorKind.OperationTimeout,
                $"Volume '{v.Name}' is still {v.Status} after {TimeoutSec} s. The revert goes on; use Wait-BlockVolume to wait again.", v));
}
