using System.Management.Automation;
using BlockStore.Core;
using BlockStore.Data;

namespace BlockStore.Commands;

/// <summary>
/// Resize-BlockVolume: grows volumes (extend only, as Cinder's extend). The request is checked at
/// once (a larger valid size, an available volume - or in-use on a host exporting with LIO -, room on its host) and then the volume's agent
/// runs lvextend. With -Wait, returns when the volumes are available (or in-use) again at their new size.
/// </summary>
[Cmdlet(VerbsCommon.Resize, "BlockVolume", DefaultParameterSetName = ById, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(BlockVolume))]
public sealed class ResizeBlockVolumeCommand : BlockStoreCmdlet
{
    private const string ById = "ById";
    private const string ByName = "ByName";
    private readonly RequestedItems<BlockVolume> _extending;

    public ResizeBlockVolumeCommand() => _extending = new(this);

    [Parameter(ParameterSetName = ById, Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("VolumeId")]
    [ArgumentCompleter(typeof(VolumeIdCompleter))]
    public Guid[] Id { get; set; } = [];

    [Parameter(ParameterSetName = ByName, Mandatory = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(VolumeNameCompleter))]
    public string[] Name { get; set; } = [];

    /// <summary>The new size; larger than the current one (checked per volume, with InvalidVolumeSize).</summary>
    [Parameter(Mandatory = true)]
    public long SizeGiB { get; set; }

    [Parameter]
    public SwitchParameter Wait { get; set; }

    [Parameter]
    [ValidateRange(1, 86400)]
    public int TimeoutSec { get; set; } = 300;

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void BeginProcessing()
    {
        base.BeginProcessing();
        // A size out of range is wrong for every volume: refuse it before anything is read.
        Terminating(() => { Validation.VolumeSize(SizeGiB); return 0; });
    }

    protected override void ProcessRecord()
    {
        var targets = VolumeLookup.Find(this, ParameterSetName == ByName ? Name : null, ParameterSetName == ById ? Id : null);

        foreach (var volume in targets)
        {
            PerItem(() =>
            {
                // Refuse a size that is not larger before asking (so -WhatIf says it too); the request re-checks under lock.
                Validation.ExtendSize(volume.Name, volume.SizeGiB, SizeGiB);
                if (!ShouldProcess($"{volume.Name} ({volume.Id}, {volume.SizeGiB} GiB -> {SizeGiB} GiB)", "Extend block volume"))
                {
                    return;
                }

                var updated = Run(ct => Session.Volumes.RequestExtendAsync(volume.Id, SizeGiB, ct));
                _extending.Add(updated, Wait, PassThru);
            });
        }
    }

    protected override void EndProcessing() =>
        _extending.WaitAndReport(
            items => Run(ct => Task.FromResult(
                new VolumeWaiter(this, Session.Volumes, ct).Wait(items, [VolumeStatus.Available, VolumeStatus.InUse], TimeoutSec, "Extending block volumes"))),
            v => v.Status is VolumeStatus.Available or VolumeStatus.InUse && v.SizeGiB >= SizeGiB ? null : ToErrorRecord(ErrorIds.InvalidVolumeState, ErrorKind.InvalidOperation,
                $"Volume '{v.Name}' was not extended: it is {v.Status} at {v.SizeGiB} GiB ({v.StatusReason}).", v),
            PassThru,
            v => ToErrorRecord(ErrorIds.WaitTimeout, ErrorKind.OperationTimeout,
                $"Volume '{v.Name}' is still {v.Status} after {TimeoutSec} s. The extend goes on; use Wait-BlockVolume to wait again.", v));
}
