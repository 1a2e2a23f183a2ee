using System.Management.Automation;
using BlockStore.Core;

namespace BlockStore.Commands;

/// <summary>Enable-BlockVolumeService: puts services back into service (clears the disable reason).</summary>
[Cmdlet(VerbsLifecycle.Enable, "BlockVolumeService", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(BlockVolumeService))]
public sealed class EnableBlockVolumeServiceCommand : ServiceChangeCmdlet
{
    protected override ServiceChange Change => ServiceChange.Enable;
}
