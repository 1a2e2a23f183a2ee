using System.Management.Automation;
using BlockStore.Core;
using BlockStore.Data;

namespace BlockStore.Commands;

/// <summary>Get-BlockVolume: lists volumes by name (wildcards), id, status or host.</summary>
[Cmdlet(VerbsCommon.Get, "BlockVolume", DefaultParameterSetName = ByName)]
[OutputType(typeof(BlockVolume))]
public sealed class GetBlockVolumeCommand : BlockStoreCmdlet
{
    private const string ByName = "ByName";
    private const string ById = "ById";

    [Parameter(ParameterSetName = ByName, Position = 0)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(VolumeNameCompleter))]
    public string[]? Name { get; set; }

    [Parameter(ParameterSetName = ById, Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [Alias("VolumeId")]
    [ArgumentCompleter(typeof(VolumeIdCompleter))]
    public Guid[]? Id { get; set; }

    [Parameter]
    [ArgumentCompleter(typeof(StatusCompleter))]
    public string[]? Status { get; set; }

    [Parameter]
    [Alias("Host")]
    [ArgumentCompleter(typeof(HostNameCompleter))]
    public string[]? HostName { get; set; }

    protected override void ProcessRecord()
    {
        // A malformed host name or status can match nothing: say so instead of returning an empty list.
        foreach (var host in HostName ?? [])
        {
            Terminating(() => { Validation.HostName(host); return 0; });
        }

        // A malformed wildcard is refused before anything is read (it used to match nothing, silently).
        foreach (var n in Name ?? [])
        {
            Terminating(() => { WildcardTranslator.Validate(n); return 0; });
        }

        var statuses = Status?.Select(s => Terminating(() => Validation.VolumeStatusName(s))).ToList();
        var filter = new VolumeFilter(Name, Id, statuses, HostName);
        var volumes = Terminating(() => Run(ct => Session.Volumes.ListAsync(filter, ct)));
        WriteObject(volumes, enumerateCollection: true);

        // Like Get-Item: asking for a specific name or id that does not exist is an error.
        foreach (var n in Name ?? [])
        {
            if (!WildcardPattern.ContainsWildcardCharacters(n) && !volumes.Any(v => string.Equals(v.Name, WildcardTranslator.Unescape(n), StringComparison.OrdinalIgnoreCase)))
            {
                WriteError(ToErrorRecord(ErrorIds.VolumeNotFound, ErrorKind.ObjectNotFound, $"No volume named '{n}'.", n));
            }
        }

        foreach (var id in Id ?? [])
        {
            if (volumes.All(v => v.Id != id))
            {
                WriteError(ToErrorRecord(ErrorIds.VolumeNotFound, ErrorKind.ObjectNotFound, $"No volume with id {id}.", id));
            }
        }
    }
}
