using System.Management.Automation;
using BlockStore.Core;
using BlockStore.Data;

namespace BlockStore.Commands;

/// <summary>
/// Get-BlockVolumeSnapshot: snapshots that are not deleted, oldest first, filtered by name
/// (wildcards), id, volume and status. An id that matches nothing is an error (SnapshotNotFound);
/// a name pattern that matches nothing is not, as with Get-BlockVolume.
/// </summary>
[Cmdlet(VerbsCommon.Get, "BlockVolumeSnapshot", DefaultParameterSetName = ByName)]
[OutputType(typeof(BlockVolumeSnapshot))]
public sealed class GetBlockVolumeSnapshotCommand : BlockStoreCmdlet
{
    private const string ByName = "ByName";
    private const string ById = "ById";

    [Parameter(ParameterSetName = ByName, Position = 0)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(SnapshotNameCompleter))]
    public string[]? Name { get; set; }

    [Parameter(ParameterSetName = ById, Mandatory = true)]
    [Alias("SnapshotId")]
    [ArgumentCompleter(typeof(SnapshotIdCompleter))]
    public Guid[] Id { get; set; } = [];

    /// <summary>The snapshots of these volumes (binds the VolumeId of piped objects, such as attachments or snapshots).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(VolumeIdCompleter))]
    public Guid[]? VolumeId { get; set; }

    /// <summary>The snapshots of these volumes, piped from Get-BlockVolume.</summary>
    [Parameter(ValueFromPipeline = true)]
    public BlockVolume[]? Volume { get; set; }

    [Parameter]
    [ArgumentCompleter(typeof(SnapshotStatusCompleter))]
    public string[]? Status { get; set; }

    /// <summary>Only the snapshots of these projects' volumes.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(ProjectNameCompleter))]
    public string[]? Project { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var project in Project ?? [])
        {
            Terminating(() => { TenancyValidation.ProjectName(project); return 0; });
        }

        var statuses = Status?.Select(s => Terminating(() => Validation.SnapshotStatusName(s))).ToList();
        var byId = ParameterSetName == ById;
        // Asked for by id, a deleted snapshot is shown as such (its history is not lost).
        var volumeIds = VolumeId is null && Volume is null ? null : (VolumeId ?? []).Concat(Volume?.Select(v => v.Id) ?? []).ToList();
        var filter = new SnapshotFilter(Name, byId ? Id : null, volumeIds, statuses, IncludeDeleted: byId || statuses?.Contains(SnapshotStatus.Deleted) == true, Projects: Project);
        var found = Terminating(() => Run(ct => Session.Snapshots.ListAsync(filter, ct)));
        WriteObject(found, enumerateCollection: true);
        if (byId)
        {
            foreach (var missing in Id.Except(found.Select(s => s.Id)))
            {
                WriteError(ToErrorRecord(ErrorIds.SnapshotNotFound, ErrorKind.ObjectNotFound, $"No snapshot with id {missing}.", missing));
            }
        }
    }
}
