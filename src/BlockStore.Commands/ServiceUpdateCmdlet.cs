using System.Management.Automation;
using BlockStore.Core;

namespace BlockStore.Commands;

/// <summary>
/// What every cmdlet that changes service rows shares: the (host, service) parameters that bind
/// from Get-BlockVolumeService output, a check and a look-up of the service before ShouldProcess (so
/// -WhatIf reports bad input and an unknown service too, instead of a "What if" line), and one result
/// or one ServiceNotFound error per host, so a bad name in a list never stops the others. Subclasses say what they check, what they write and what -PassThru returns.
/// </summary>
public abstract class ServiceUpdateCmdlet : BlockStoreCmdlet
{
    /// <summary>Exact host names (no wildcards: a change should name what it changes).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Host")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(HostNameCompleter))]
    public string[] HostName { get; set; } = [];

    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [ValidateSet(ServiceType.Volume, ServiceType.Scheduler)]
    public string Service { get; set; } = "";

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <summary>The ShouldProcess action text.</summary>
    protected abstract string Action { get; }

    /// <summary>Throws a BlockStoreException when the change does not apply to this type of service.</summary>
    protected virtual void Check(string service)
    {
    }

    /// <summary>Writes the change; returns the service as stored, or null when it is not registered.</summary>
    protected abstract Task<BlockVolumeService?> ApplyAsync(string host, string service, CancellationToken ct);

    /// <summary>What -PassThru returns for a changed service.</summary>
    protected virtual object Output(BlockVolumeService changed) => changed;

    protected sealed override void ProcessRecord()
    {
        // ValidateSet accepts any casing; the rows are stored in lower case.
        var service = Service.ToLowerInvariant();
        foreach (var host in HostName)
        {
            PerItem(() =>
            {
                // A malformed name can match no service: say so as bad input, before any round trip.
                Validation.HostName(host);
                Check(service);
                _ = Run(ct => Session.Services.GetAsync(host, service, ct)) ?? throw ServiceRules.NotFound(host, service);
                if (!ShouldProcess($"{service} service on {host}", Action))
                {
                    return;
                }

                // Still null when the service was removed between the look-up and the write.
                var changed = Run(ct => ApplyAsync(host, service, ct)) ?? throw ServiceRules.NotFound(host, service);
                if (PassThru)
                {
                    WriteObject(Output(changed));
                }
            });
        }
    }
}
