using System.Management.Automation;
using BlockStore.Core;

namespace BlockStore.Commands;

/// <summary>
/// Remove-BlockVolumeType: removes a type that no volume uses and that is not the default
/// (VolumeTypeInUse otherwise). Its per-type quota limits go with it.
/// </summary>
[Cmdlet(VerbsCommon.Remove, "BlockVolumeType", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(BlockVolumeType))]
public sealed class RemoveBlockVolumeTypeCommand : BlockStoreCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(VolumeTypeNameCompleter))]
    public string[] Name { get; set; } = [];

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var name in Name)
        {
            PerItem(() =>
            {
                TenancyValidation.VolumeTypeName(name);
                if (!ShouldProcess(name, "Remove block volume type"))
                {
                    return;
                }

                var removed = Run(ct => Session.VolumeTypes.RemoveAsync(name, ct));
                if (PassThru)
                {
                    WriteObject(removed);
                }
            });
        }
    }
}
