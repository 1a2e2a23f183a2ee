using System.Management.Automation;
using BlockStore.Core;

namespace BlockStore.Commands;

/// <summary>
/// Get-BlockStoreQuota: the quota lines of projects (all, or those named): for volumes, gigabytes
/// and snapshots, over all volume types and per type, the limit that applies and where it comes
/// from (the project's own, or the default). -Usage adds what is in use and what is left; -Default
/// shows the default limits themselves.
/// </summary>
[Cmdlet(VerbsCommon.Get, "BlockStoreQuota", DefaultParameterSetName = ByProject)]
[OutputType(typeof(BlockStoreQuota))]
public sealed class GetBlockStoreQuotaCommand : BlockStoreCmdlet
{
    private const string ByProject = "ByProject";
    private const string Defaults = "Default";

    /// <summary>Projects by name; a piped project or volume binds its project.</summary>
    [Parameter(ParameterSetName = ByProject, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Name")]
    [ArgumentCompleter(typeof(ProjectNameCompleter))]
    public string[]? Project { get; set; }

    /// <summary>Adds InUse and Free to every line.</summary>
    [Parameter(ParameterSetName = ByProject)]
    public SwitchParameter Usage { get; set; }

    /// <summary>The default limits (for projects without their own) instead of a project's.</summary>
    [Parameter(ParameterSetName = Defaults, Mandatory = true)]
    public SwitchParameter Default { get; set; }

    protected override void ProcessRecord()
    {
        var lines = Terminating(() => Run(ct => Session.Quotas.ListAsync(Project, Usage, Default, ct)));
        WriteObject(lines, enumerateCollection: true);
    }
}
