using System.Management.Automation;
using BlockStore.Core;

namespace BlockStore.Commands;

/// <summary>
/// Get-BlockVolumeType: volume types by name (wildcards), with their extra specs and which is the
/// default. A name without wildcards that matches nothing is an error (VolumeTypeNotFound).
/// </summary>
[Cmdlet(VerbsCommon.Get, "BlockVolumeType")]
[OutputType(typeof(BlockVolumeType))]
public sealed class GetBlockVolumeTypeCommand : BlockStoreCmdlet
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(VolumeTypeNameCompleter))]
    public string[]? Name { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var n in Name ?? [])
        {
            Terminating(() => { WildcardTranslator.Validate(n); return 0; });
        }

        var found = Terminating(() => Run(ct => Session.VolumeTypes.ListAsync(Name, ct)));
        WriteObject(found, enumerateCollection: true);
        foreach (var n in (Name ?? []).Where(n => !WildcardPattern.ContainsWildcardCharacters(n)))
        {
            if (!found.Any(t => string.Equals(t.Name, n, StringComparison.OrdinalIgnoreCase)))
            {
                WriteError(ToErrorRecord(ErrorIds.VolumeTypeNotFound, ErrorKind.ObjectNotFound, $"No volume type named '{n}'.", n));
            }
        }
    }
}
