using System.Management.Automation;
using BlockStore.Core;
using BlockStore.Data;

namespace BlockStore.Commands;

/// <summary>
/// Unregister-BlockStoreTenant: removes a project's tenant login: its role is dropped and its open
/// sessions end. The project, its volumes and their history stay.
/// </summary>
[Cmdlet(VerbsLifecycle.Unregister, "BlockStoreTenant", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(BlockStoreTenantRegistration))]
public sealed class UnregisterBlockStoreTenantCommand : BlockStoreCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Name")]
    [ArgumentCompleter(typeof(ProjectNameCompleter))]
    public string[] Project { get; set; } = [];

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var project in Project)
        {
            PerItem(() =>
            {
                TenancyValidation.ProjectName(project);
                var registry = new TenantRegistry(Session.Current);
                var registered = Run(ct => registry.RoleOfAsync(project, ct)) ?? throw NotRegistered(project);
                if (!ShouldProcess($"{project} (database role {registered})", "Unregister tenant (drop its database role)"))
                {
                    return;
                }

                var role = Run(ct => registry.UnregisterAsync(project, ct)) ?? throw NotRegistered(project);
                if (PassThru)
                {
                    WriteObject(new BlockStoreTenantRegistration { Project = project, Role = role });
                }
            });
        }
    }

    private static BlockStoreException NotRegistered(string project) =>
        new(ErrorIds.TenantNotRegistered, ErrorKind.ObjectNotFound, $"Project '{project}' has no tenant login to remove.", project);
}
