using System.Management.Automation;
using BlockStore.Core;

namespace BlockStore.Commands;

/// <summary>
/// Remove-BlockStoreProject: removes a project that owns nothing (ProjectNotEmpty otherwise: remove
/// its volumes first). Its own quota limits go with it; its name stays with its volumes' history.
/// </summary>
[Cmdlet(VerbsCommon.Remove, "BlockStoreProject", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(BlockStoreProject))]
public sealed class RemoveBlockStoreProjectCommand : BlockStoreCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(ProjectNameCompleter))]
    public string[] Name { get; set; } = [];

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var name in Name)
        {
            PerItem(() =>
            {
                TenancyValidation.ProjectName(name);
                if (!ShouldProcess(name, "Remove BlockStore project"))
                {
                    return;
                }

                var removed = Run(ct => Session.Projects.RemoveAsync(name, ct));
                if (PassThru)
                {
                    WriteObject(removed);
                }
            });
        }
    }
}
