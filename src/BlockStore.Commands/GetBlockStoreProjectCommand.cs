using System.Management.Automation;
using BlockStore.Core;

namespace BlockStore.Commands;

/// <summary>
/// Get-BlockStoreProject: projects (not removed) with what they hold, by name (wildcards). A name
/// without wildcards that matches nothing is an error (ProjectNotFound), as Get-Service does.
/// </summary>
[Cmdlet(VerbsCommon.Get, "BlockStoreProject")]
[OutputType(typeof(BlockStoreProject))]
public sealed class GetBlockStoreProjectCommand : BlockStoreCmdlet
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(ProjectNameCompleter))]
    public string[]? Name { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var n in Name ?? [])
        {
            Terminating(() => { WildcardTranslator.Validate(n); return 0; });
        }

        var found = Terminating(() => Run(ct => Session.Projects.ListAsync(Name, ct)));
        WriteObject(found, enumerateCollection: true);
        foreach (var n in (Name ?? []).Where(n => !WildcardPattern.ContainsWildcardCharacters(n)))
        {
            if (!found.Any(p => string.Equals(p.Name, n, StringComparison.OrdinalIgnoreCase)))
            {
                WriteError(ToErrorRecord(ErrorIds.ProjectNotFound, ErrorKind.ObjectNotFound, $"No project named '{n}'.", n));
            }
        }
    }
}
