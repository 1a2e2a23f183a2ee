using System.Management.Automation;
using BlockStore.Core;

namespace BlockStore.Commands;

/// <summary>
/// Disable-BlockVolumeService: takes services out of placement (volume) or out of scheduling
/// (scheduler), with an optional reason that placement failures and Get-BlockVolumeService show.
/// </summary>
[Cmdlet(VerbsLifecycle.Disable, "BlockVolumeService", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(BlockVolumeService))]
public sealed class DisableBlockVolumeServiceCommand : ServiceChangeCmdlet
{
    [Parameter]
    public string? Reason { get; set; }

    protected override ServiceChange Change => ServiceChange.Disable;

    protected override string? ChangeReason => Reason;
}
