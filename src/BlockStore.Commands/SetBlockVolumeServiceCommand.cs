using System.Management.Automation;
using BlockStore.Core;

namespace BlockStore.Commands;

/// <summary>
/// Set-BlockVolumeService: enables, disables (with a reason), freezes or thaws services. One
/// parameter set per change, so asking for two at once is a parameter-binding error.
/// </summary>
[Cmdlet(VerbsCommon.Set, "BlockVolumeService", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(BlockVolumeService))]
public sealed class SetBlockVolumeServiceCommand : ServiceChangeCmdlet
{
    private const string EnableSet = "Enable";
    private const string DisableSet = "Disable";
    private const string FreezeSet = "Freeze";
    private const string ThawSet = "Thaw";

    [Parameter(ParameterSetName = EnableSet, Mandatory = true)]
    public SwitchParameter Enable { get; set; }

    [Parameter(ParameterSetName = DisableSet, Mandatory = true)]
    public SwitchParameter Disable { get; set; }

    [Parameter(ParameterSetName = DisableSet)]
    public string? Reason { get; set; }

    [Parameter(ParameterSetName = FreezeSet, Mandatory = true)]
    public SwitchParameter Freeze { get; set; }

    [Parameter(ParameterSetName = ThawSet, Mandatory = true)]
    public SwitchParameter Thaw { get; set; }

    protected override ServiceChange Change => ParameterSetName switch
    {
        EnableSet => ServiceChange.Enable,
        DisableSet => ServiceChange.Disable,
        FreezeSet => ServiceChange.Freeze,
        _ => ServiceChange.Thaw,
    };

    protected override string? ChangeReason => Reason;
}
