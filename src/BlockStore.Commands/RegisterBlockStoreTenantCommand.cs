using System.Management.Automation;
using BlockStore.Core;
using BlockStore.Data;

namespace BlockStore.Commands;

/// <summary>
/// Register-BlockStoreTenant: gives a project its own database login (a member of bs_tenant: row-level
/// security keeps it to its project's volumes, snapshots, attachments, events and quota) with a
/// generated password, and writes its connection string to a file only its owner can read, or
/// returns it. Registering again gives the tenant a new password (rotation).
/// </summary>
[Cmdlet(VerbsLifecycle.Register, "BlockStoreTenant", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(BlockStoreTenantRegistration))]
public sealed class RegisterBlockStoreTenantCommand : BlockStoreCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Name")]
    [ArgumentCompleter(typeof(ProjectNameCompleter))]
    public string Project { get; set; } = "";

    /// <summary>Writes the connection string here (mode 0600) instead of returning it.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? OutFile { get; set; }

    /// <summary>The database host as the tenant reaches it, when that differs from the operator's.</summary>
    [Parameter]
    [ValidateNotNullOrWhiteSpace]
    [ValidatePattern(@"^\S+$", ErrorMessage = "-DatabaseHost '{0}' is not a host name, address or socket folder: it contains white space.")]
    public string? DatabaseHost { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord() =>
        PerItem(() =>
        {
            TenancyValidation.ProjectName(Project);
            var path = OutFile is null ? null : OutputFile.Resolve(this, OutFile);
            if (!ShouldProcess(Project, "Register tenant (create or rotate the project's database role)"))
            {
                return;
            }

            var registry = new TenantRegistry(Session.Current);
            // The file is opened first: a file that cannot be written must not rotate away the only valid password.
            using var file = path is null ? null : OutputFile.Open(path, OutFile!);
            TenantCredentials credentials;
            try
            {
                credentials = Run(ct => registry.RegisterAsync(Project, ct));
            }
            catch
            {
                file?.Abandon();
                throw;
            }

            var connection = registry.ConnectionString(credentials, DatabaseHost);
            file?.Replace(connection + "\n");
            if (path is not null && !PassThru)
            {
                WriteVerbose($"Project {Project}: tenant role {credentials.Role}; connection written to {path}.");
                return;
            }

            WriteObject(new BlockStoreTenantRegistration
            {
                Project = Project,
                Role = credentials.Role,
                ConnectionPath = path,
                ConnectionString = path is null ? connection : null,
            });
        });
}
