using System.Management.Automation;
using BlockStore.Core;

namespace BlockStore.Commands;

/// <summary>
/// New-BlockVolume: requests a volume. Returns at once with the volume in 'creating', or with
/// -Wait once it is available (or failed). Streams from the pipeline (Import-Csv | New-BlockVolume);
/// with -Wait the whole batch is requested first and waited for together.
/// </summary>
[Cmdlet(VerbsCommon.New, "BlockVolume", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(BlockVolume))]
public sealed class NewBlockVolumeCommand : BlockStoreCmdlet
{
    private readonly RequestedItems<BlockVolume> _requested;

    public NewBlockVolumeCommand() => _requested = new(this);

    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Name { get; set; } = "";

    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [Alias("Size")]
    public int SizeGiB { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("Zone")]
    [ArgumentCompleter(typeof(ZoneCompleter))]
    public string? AvailabilityZone { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    public string? Description { get; set; }

    /// <summary>Lets several initiators attach the volume at once (Cinder's multiattach).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public SwitchParameter MultiAttach { get; set; }

    [Parameter]
    public SwitchParameter Wait { get; set; }

    [Parameter]
    [ValidateRange(1, 86400)]
    public int TimeoutSec { get; set; } = 300;

    protected override void ProcessRecord()
    {
        PerItem(() =>
        {
            // Validate before ShouldProcess so -WhatIf reports bad input too, and nothing is written.
            Validation.VolumeName(Name);
            Validation.VolumeSize(SizeGiB);
            if (AvailabilityZone is not null)
            {
                Validation.AvailabilityZone(AvailabilityZone);
            }

            Validation.Description(Description);
            if (!ShouldProcess($"{Name} ({SizeGiB} GiB)", "Create block volume"))
            {
                return;
            }

            var volume = Run(ct => Session.Volumes.CreateAsync(Name, SizeGiB, AvailabilityZone, Description, MultiAttach.IsPresent, ct));
            _requested.Add(volume, Wait, write: true);
        });
    }

    /// <summary>A volume that ends failed is written as it is (its Status says so), not as an error.</summary>
    protected override void EndProcessing() =>
        _requested.WaitAndReport(
            items => Run(ct => Task.FromResult(
                new VolumeWaiter(this, Session.Volumes, ct).Wait(items, [VolumeStatus.Available], TimeoutSec, "Creating block volumes"))),
            failure: _ => null,
            write: true,
            v => ToErrorRecord(ErrorIds.WaitTimeout, ErrorKind.OperationTimeout,
                $"Volume '{v.Name}' is still {v.Status} after {TimeoutSec} s. The request goes on; use Wait-BlockVolume to wait again.", v));
}
