using System.Management.Automation;
using BlockStore.Core;
using BlockStore.Data;

namespace BlockStore.Commands;

/// <summary>
/// Remove-BlockVolumeSnapshot: asks for snapshots' removal (their host's agent removes the LV).
/// A snapshot already deleting or deleted is left alone: removing it again is no error. With
/// -Wait, returns when the snapshots are deleted; one that ends error_deleting is an error.
/// </summary>
[Cmdlet(VerbsCommon.Remove, "BlockVolumeSnapshot", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(BlockVolumeSnapshot))]
public sealed class RemoveBlockVolumeSnapshotCommand : BlockStoreCmdlet
{
    private readonly RequestedItems<BlockVolumeSnapshot> _removing;

    public RemoveBlockVolumeSnapshotCommand() => _removing = new(this);

    /// <summary>Snapshot ids; snapshots piped from Get-BlockVolumeSnapshot bind by their Id.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("SnapshotId")]
    [ArgumentCompleter(typeof(SnapshotIdCompleter))]
    public Guid[] Id { get; set; } = [];

    [Parameter]
    public SwitchParameter Wait { get; set; }

    [Parameter]
    [ValidateRange(1, 86400)]
    public int TimeoutSec { get; set; } = 300;

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var found = Terminating(() => Run(ct => Session.Snapshots.ListAsync(new SnapshotFilter(Ids: Id, IncludeDeleted: true), ct)));
        foreach (var missing in Id.Except(found.Select(s => s.Id)))
        {
            WriteError(ToErrorRecord(ErrorIds.SnapshotNotFound, ErrorKind.ObjectNotFound, $"No snapshot with id {missing}.", missing));
        }

        foreach (var snapshot in found.Where(s => s.Status != SnapshotStatus.Deleted))
        {
            PerItem(() =>
            {
                if (!ShouldProcess($"{snapshot.Name} ({snapshot.Id}) of volume {snapshot.VolumeName}", "Remove block volume snapshot"))
                {
                    return;
                }

                var updated = Run(ct => Session.Snapshots.RequestDeleteAsync(snapshot.Id, ct));
                _removing.Add(updated, Wait, PassThru);
            });
        }
    }

    protected override void EndProcessing() =>
        _removing.WaitAndReport(
            items => Run(ct => Task.FromResult(new SnapshotWaiter(this, Session.Snapshots, Session.Volumes, ct).Wait(items, TimeoutSec, "Removing snapshots"))),
            s => s.Status == SnapshotStatus.Deleted ? null : ToErrorRecord(ErrorIds.InvalidSnapshotState, ErrorKind.InvalidOperation,
                $"Snapshot '{s.Name}' ended {s.Status}: {s.StatusReason}", s),
            PassThru,
            s => ToErrorRecord(ErrorIds.WaitTimeout, ErrorKind.OperationTimeout,
                $"Snapshot '{s.Name}' is still {s.Status} after {TimeoutSec} s. The removal goes on; use Get-BlockVolumeSnapshot to see it.", s));
}
