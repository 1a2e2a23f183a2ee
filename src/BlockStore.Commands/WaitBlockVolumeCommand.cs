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
    private readonly RequestedItems<BlockVolume> _targets;

    public WaitBlockVolumeCommand() => _targets = new(this);

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

    private List<string>? _statuses;

    /// <summary>A misspelt status would make every wait run into its timeout: refused before waiting.</summary>
    protected override void BeginProcessing() =>
        _statuses = Status?.Select(s => Terminating(() => Validation.VolumeStatusName(s))).ToList();

    protected override void ProcessRecord()
    {
        foreach (var n in ParameterSetName == ByName ? Name : [])
        {
            Terminating(() => { WildcardTranslator.Validate(n); return 0; });
        }

        var filter = ParameterSetName == ByName ? new VolumeFilter(NamePatterns: Name) : new VolumeFilter(Ids: Id, IncludeDeleted: true);
        var found = Terminating(() => Run(ct => Session.Volumes.ListAsync(filter, ct)));

        // Each name (a pattern too: waiting for nothing is a mistake) and each id that matches no
        // volume is an error of its own, with that name or id as target; the others are still waited for.
        var missing = ParameterSetName == ByName
            ? Name.Where(n => !found.Any(v => WildcardPattern.Get(n, WildcardOptions.IgnoreCase).IsMatch(v.Name)))
                .Select(n => (Target: (object)n, Text: $"No volume matches '{n}'."))
            : Id.Where(id => found.All(v => v.Id != id)).Select(id => (Target: (object)id, Text: $"No volume with id {id}."));
        foreach (var (target, text) in missing)
        {
            WriteError(ToErrorRecord(ErrorIds.VolumeNotFound, ErrorKind.ObjectNotFound, text, target));
        }

        foreach (var v in found.Where(v => _targets.Items.All(t => t.Id != v.Id)))
        {
            _targets.Add(v, wait: true, write: false);
        }
    }

    /// <summary>Every finished volume is written, in whatever status it ended (a failed one too): this waits, it does not judge.</summary>
    protected override void EndProcessing() =>
        _targets.WaitAndReport(
            items => Run(ct => Task.FromResult(
                new VolumeWaiter(this, Session.Volumes, ct).Wait(items, _statuses, TimeoutSec, "Waiting for block volumes"))),
            failure: _ => null,
            write: true,
            v => ToErrorRecord(ErrorIds.WaitTimeout, ErrorKind.OperationTimeout,
                $"Volume '{v.Name}' is still {v.Status} after {TimeoutSec} s.", v));
}
