using System.Management.Automation;
using BlockStore.Core;

namespace BlockStore.Commands;

/// <summary>
/// Get-BlockVolumeService: the fleet as operators see it: every scheduler and volume service with
/// its status (enabled/disabled), state (up/down, from the database clock), frozen flag and, for
/// volume services, the capacity reported with the last heartbeat.
/// </summary>
[Cmdlet(VerbsCommon.Get, "BlockVolumeService")]
[OutputType(typeof(BlockVolumeService))]
public sealed class GetBlockVolumeServiceCommand : BlockStoreCmdlet
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Host")]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(HostNameCompleter))]
    public string[]? HostName { get; set; }

    [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)]
    [ValidateSet(ServiceType.Volume, ServiceType.Scheduler)]
    public string? Service { get; set; }

    protected override void ProcessRecord()
    {
        var services = Terminating(() => Run(ct => Session.Services.ListAsync(HostName, Service?.ToLowerInvariant(), ct)));
        WriteObject(services, enumerateCollection: true);
        foreach (var missing in ServiceLookup.Missing(HostName, Service, services.Select(s => s.Host)))
        {
            WriteError(ToErrorRecord(missing));
        }
    }
}
