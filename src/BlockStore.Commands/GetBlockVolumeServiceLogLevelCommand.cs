using System.Management.Automation;
using BlockStore.Core;

namespace BlockStore.Commands;

/// <summary>
/// Get-BlockVolumeServiceLogLevel: the log level each service is set to. A running host applies
/// it within a second of a change; a stopped one applies it when it starts.
/// </summary>
[Cmdlet(VerbsCommon.Get, "BlockVolumeServiceLogLevel")]
[OutputType(typeof(BlockVolumeServiceLogLevel))]
public sealed class GetBlockVolumeServiceLogLevelCommand : ServiceQueryCmdlet
{
    protected override void ProcessRecord() =>
        WriteObject(Query().Select(BlockVolumeServiceLogLevel.Of), enumerateCollection: true);
}
