using System.Collections;
using System.Management.Automation;
using BlockStore.Core;

namespace BlockStore.Commands;

/// <summary>
/// Set-BlockVolumeType: changes a type's description, merges extra specs in (a $null value removes
/// that key), or makes it the default. Volumes made already stay where they are.
/// </summary>
[Cmdlet(VerbsCommon.Set, "BlockVolumeType", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(BlockVolumeType))]
public sealed class SetBlockVolumeTypeCommand : BlockStoreCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(VolumeTypeNameCompleter))]
    public string Name { get; set; } = "";

    [Parameter]
    public string? Description { get; set; }

    /// <summary>Extra specs to add or change; a key with a $null value is removed.</summary>
    [Parameter]
    public Hashtable? ExtraSpec { get; set; }

    /// <summary>Makes this the default type.</summary>
    [Parameter]
    public SwitchParameter Default { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord() =>
        PerItem(() =>
        {
            TenancyValidation.VolumeTypeName(Name);
            Validation.Description(Description);
            var specs = ExtraSpec is null ? null : ExtraSpecs.From(ExtraSpec).ToDictionary(kv => kv.Key, kv => kv.Value);
            if (specs is not null)
            {
                TenancyValidation.ExtraSpecs(specs.Where(kv => kv.Value is not null));
            }

            if (!ShouldProcess(Name, "Set block volume type"))
            {
                return;
            }

            var changed = Run(ct => Session.VolumeTypes.UpdateAsync(Name, Description, specs, Default, ct));
            if (PassThru)
            {
                WriteObject(changed);
            }
        });
}
