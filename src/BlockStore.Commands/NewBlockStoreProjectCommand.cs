using System.Management.Automation;
using BlockStore.Core;

namespace BlockStore.Commands;

/// <summary>
/// New-BlockStoreProject: creates a project, the owner of volumes that quotas count in. Projects are
/// operators' work (the operator role); a project's quota is the default until Set-BlockStoreQuota.
/// </summary>
[Cmdlet(VerbsCommon.New, "BlockStoreProject", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(BlockStoreProject))]
public sealed class NewBlockStoreProjectCommand : BlockStoreCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Name { get; set; } = "";

    [Parameter(ValueFromPipelineByPropertyName = true)]
    public string? Description { get; set; }

    protected override void ProcessRecord() =>
        PerItem(() =>
        {
            TenancyValidation.ProjectName(Name);
            Validation.Description(Description);
            if (ShouldProcess(Name, "Create BlockStore project"))
            {
                WriteObject(Run(ct => Session.Projects.CreateAsync(Name, Description, ct)));
            }
        });
}
