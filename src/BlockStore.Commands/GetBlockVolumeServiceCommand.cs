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
public sealed class GetBlockVolumeServiceCommand : ServiceQueryCmdlet
{
    protected override void ProcessRecord() => WriteObject(Query(), enumerateCollection: true);
}
