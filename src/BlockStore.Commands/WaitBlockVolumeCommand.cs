using System.Management.Automation;
using BlockStore.Core;
using BlockStore.Data;

namespace BlockStore.Commands;

/// <summary>
/// Wait-BlockVolume: waits until volumes reach a status (by default any final one), with
/// progress. Ctrl+C stops waiting, never the request.
/// </summary>
[Cmdlet(VerbsLifecycle.Wait, "BlockVolume", DefaultParameterSetName = ById)]
[OutputType(typeof(BlockVolume))]
public sealed class WaitBlockVolumeCommand : BlockStoreCmdlet
{
    private const string ById = "ById";
    private const string ByName = "ByName";
    private readonly List<BlockVolume> _targets = [];

    [Parameter(ParameterSetName = ById, Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("VolumeId")]
    [ArgumentCompleter(typeof(VolumeIdCompleter))]
    public Guid[] Id { get; set; } = [];

    [Parameter(ParameterSetName = ByName, Mandatory = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(VolumeNameCompleter))]
    public string[] Name { get; set; } = [];

    [Parameter]
    [ArgumentCompleter(typeof(StatusCompleter))]
    public string[]? Status { get; set; }

    [Parameter]
    [ValidateRange(1, 86400)]
    public int TimeoutSec { get; set; } = 300;

    protected override void ProcessRecord()
    {
        var filter = ParameterSetName == ByName ? new VolumeFilter(NamePatterns: Name) : new VolumeFilter(Ids: Id, IncludeDeleted: true);
        var found = Terminating(() => Run(ct => Session.Volumes.ListAsync(filter, ct)));
        if (found.Count == 0)
        {
            WriteError(ToErrorRecord(ErrorIds.VolumeNotFound, ErrorKind.ObjectNotFound,
                $"No volume matches {(ParameterSetName == ByName ? string.Join(", ", Name) : string.Join(", ", Id))}.", null));
        }

        _targets.AddRange(found);
    }

    protected override void EndProcessing()
    {
        if (_targets.Count == 0)
        {
            return;
        }

        var (done, timedOut) = Terminating(() => Run(ct => Task.FromResult(
            new VolumeWaiter(this, Session.Volumes, ct).Wait(_targets, Status, TimeoutSec, "Waiting for block volumes"))));
        WriteObject(done, enumerateCollection: true);
        foreach (var v in timedOut)
        {
            WriteError(ToErrorRecord(ErrorIds.WaitTimeout, ErrorKind.OperationTimeout,
                $"Volume '{v.Name}' is still {v.Status} after {TimeoutSec} s.", v));
        }
    }
}
