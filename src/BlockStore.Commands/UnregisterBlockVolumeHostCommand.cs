using System.Management.Automation;
using BlockStore.Core;
using BlockStore.Data;

namespace BlockStore.Commands;

/// <summary>
/// Unregister-BlockVolumeHost: removes a storage host's access. Its role loses its host mapping
/// (from then on it sees nothing), its volume service is disabled with the reason "host
/// unregistered", its open sessions are ended and its role is dropped. Volumes and history stay.
/// </summary>
[Cmdlet(VerbsLifecycle.Unregister, "BlockVolumeHost", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(BlockVolumeHostRegistration))]
public sealed class UnregisterBlockVolumeHostCommand : BlockStoreCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Host")]
    [ArgumentCompleter(typeof(HostNameCompleter))]
    [ValidateNotNullOrEmpty]
    public string[] HostName { get; set; } = [];

    /// <summary>Returns what was removed (host and dropped role).</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var host in HostName)
        {
            PerItem(() =>
            {
                Validation.HostName(host);
                if (!ShouldProcess(host, "Unregister volume host (drop its database role)"))
                {
                    return;
                }

                var role = Run(ct => new HostRegistry(Session.Current).UnregisterAsync(host, ct));
                if (role is null)
                {
                    throw new BlockStoreException(ErrorIds.HostNotRegistered, ErrorKind.ObjectNotFound,
                        $"Host '{host}' is not registered (no database role to remove).", host);
                }

                WriteVerbose($"Host {host} unregistered; database role {role} dropped.");
                if (PassThru)
                {
                    WriteObject(new BlockVolumeHostRegistration { HostName = host, Role = role });
                }
            });
        }
    }
}
