using System.Management.Automation;
using BlockStore.Core;

namespace BlockStore.Commands;

/// <summary>
/// Get-BlockVolumeServiceLogLevel: the log level each service is set to. A running host applies
/// it within a second of a change; a stopped one applies it when it starts.
/// </summary>
[Cmdlet(VerbsCommon.Get, "BlockVolumeServiceLogLevel")]
[OutputType(typeof(BlockVolumeServiceLogLevel))]
public sealed class GetBlockVolumeServiceLogLevelCommand : BlockStoreCmdlet
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
        WriteObject(services.Select(ServiceLookup.LogLevelOf), enumerateCollection: true);
        foreach (var missing in ServiceLookup.Missing(HostName, Service, services.Select(s => s.Host)))
        {
            WriteError(ToErrorRecord(missing));
        }
    }
}
