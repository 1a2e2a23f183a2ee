using System.Collections;
using System.Management.Automation;
using BlockStore.Core;

namespace BlockStore.Commands;

/// <summary>
/// New-BlockVolumeType: a volume type users can ask for with New-BlockVolume -VolumeType. Its
/// extra specs (@{ backend_type = 'thin' }) are matched by the scheduler against what each volume
/// host reports (Cinder's CapabilitiesFilter). -Default makes it the type of volumes requested without one.
/// </summary>
[Cmdlet(VerbsCommon.New, "BlockVolumeType", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(BlockVolumeType))]
public sealed class NewBlockVolumeTypeCommand : BlockStoreCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Name { get; set; } = "";

    [Parameter(ValueFromPipelineByPropertyName = true)]
    public string? Description { get; set; }

    /// <summary>Capabilities a host must report to take volumes of this type, e.g. @{ backend_type = 'thin'; iscsi = 'true' }.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public Hashtable? ExtraSpec { get; set; }

    /// <summary>Makes this the default type (volumes requested without -VolumeType).</summary>
    [Parameter]
    public SwitchParameter Default { get; set; }

    protected override void ProcessRecord() =>
        PerItem(() =>
        {
            TenancyValidation.VolumeTypeName(Name);
            Validation.Description(Description);
            var specs = TenancyValidation.ExtraSpecs(ExtraSpecs.From(ExtraSpec));
            if (ShouldProcess(Name, "Create block volume type"))
            {
                WriteObject(Run(ct => Session.VolumeTypes.CreateAsync(Name, Description, specs, Default, ct)));
            }
        });
}

/// <summary>Reads -ExtraSpec hashtables: keys and values as strings ($true is 'True'), a $null value kept as null.</summary>
internal static class ExtraSpecs
{
    public static IEnumerable<KeyValuePair<string, string?>> From(IDictionary? table) =>
        table is null
            ? []
            : table.Keys.Cast<object>().Select(k => new KeyValuePair<string, string?>(
                k.ToString() ?? "", table[k] is { } v ? LanguagePrimitives.ConvertTo<string>(PSObject.AsPSObject(v).BaseObject) : null)).ToList();
}
