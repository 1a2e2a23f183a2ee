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
public sealed class UnregisterBlockVolumeHostCommand : VolumeHostCmdlet<string[]>
{
    // -PassThru (from VolumeHostCmdlet) returns what was removed: host and dropped role.
    protected override void ProcessRecord()
    {
        ForEachHost((host, registry) =>
        {
            // Looked up before ShouldProcess, so -WhatIf says that the host is not registered.
            var registered = Run(ct => registry.RoleOfAsync(host, ct)) ?? throw NotRegistered(host);
            if (!ShouldProcess($"{host} (database role {registered})", "Unregister volume host (drop its database role)"))
            {
                return;
            }

            // Null too when another operator unregistered the host since the look-up.
            var role = Run(ct => registry.UnregisterAsync(host, ct)) ?? throw NotRegistered(host);
            WriteVerbose($"Host {host} unregistered; database role {role} dropped.");
            if (PassThru)
            {
                WriteObject(new BlockVolumeHostRegistration { HostName = host, Role = role });
            }
        });
    }

    private static BlockStoreException NotRegistered(string host) =>
        new(ErrorIds.HostNotRegistered, ErrorKind.ObjectNotFound, $"Host '{host}' is not registered (no database role to remove).", host);
}
