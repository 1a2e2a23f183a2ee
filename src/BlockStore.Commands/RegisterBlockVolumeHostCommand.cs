using System.Management.Automation;
using BlockStore.Core;
using BlockStore.Data;

namespace BlockStore.Commands;

/// <summary>
/// Register-BlockVolumeHost: onboards a storage host. Creates the host's own database login role
/// (a member of bs_agent, so row-level security limits it to its own rows) with a generated
/// password, and writes the agent's configuration to a file only its owner can read, or returns
/// it. Registering a host again gives it a new password (credential rotation).
/// </summary>
[Cmdlet(VerbsLifecycle.Register, "BlockVolumeHost", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(BlockVolumeHostRegistration))]
public sealed class RegisterBlockVolumeHostCommand : VolumeHostCmdlet<string>
{
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("AvailabilityZone")]
    [ArgumentCompleter(typeof(ZoneCompleter))]
    public string? Zone { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? OutFile { get; set; }

    /// <summary>
    /// The database host as the storage host reaches it, when that differs from the operator's. A blank
    /// value used to be dropped without a word (the operator's host was written instead), and one with
    /// a space in it cannot be a host: both are refused at binding, before anything is registered.
    /// </summary>
    [Parameter]
    [ValidateNotNullOrWhiteSpace]
    [ValidatePattern(@"^\S+$", ErrorMessage = "-DatabaseHost '{0}' is not a host name, address or socket folder: it contains white space.")]
    public string? DatabaseHost { get; set; }

    // -PassThru (from VolumeHostCmdlet) returns the registration with -OutFile too; without
    // -OutFile it is always returned: it holds the configuration.
    protected override void ProcessRecord()
    {
        ForEachHost((host, registry) =>
        {
            if (Zone is not null)
            {
                Validation.AvailabilityZone(Zone);
            }

            var path = OutFile is null ? null : OutputFile.Resolve(this, OutFile);
            if (!ShouldProcess(host, "Register volume host (create or rotate its database role)"))
            {
                return;
            }

            // The file is opened before the role is created or its password rotated: a file that
            // cannot be written must not leave a host whose only valid configuration was lost.
            using var file = path is null ? null : OutputFile.Open(path, OutFile!);
            HostCredentials credentials;
            try
            {
                credentials = Run(ct => registry.RegisterAsync(host, ct));
            }
            catch
            {
                file?.Abandon();
                throw;
            }

            var configuration = registry.AgentConfiguration(credentials, Zone, DatabaseHost);
            file?.Replace(configuration + "\n");

            if (path is not null && !PassThru)
            {
                WriteVerbose($"Host {credentials.Host} registered as database role {credentials.Role}; configuration written to {path}.");
                return;
            }

            WriteObject(new BlockVolumeHostRegistration
            {
                HostName = credentials.Host,
                Zone = Zone,
                Role = credentials.Role,
                ConfigurationPath = path,
                Configuration = path is null ? configuration : null,
            });
        });
    }
}
