using System.Management.Automation;
using BlockStore.Core;
using BlockStore.Data;

namespace BlockStore.Commands;

/// <summary>
/// New-BlockVolume: requests a volume. Returns at once with the volume in 'creating', or with
/// -Wait once it is available (or failed). Streams from the pipeline (Import-Csv | New-BlockVolume);
/// with -Wait the whole batch is requested first and waited for together.
/// </summary>
[Cmdlet(VerbsCommon.New, "BlockVolume", DefaultParameterSetName = Empty, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(BlockVolume))]
public sealed class NewBlockVolumeCommand : BlockStoreCmdlet, IDisposable
{
    private const string Empty = "Empty";
    private const string FromSnapshot = "FromSnapshot";
    private const string Clone = "Clone";
    private readonly RequestedItems<BlockVolume> _requested;
    // With -Wait: the LISTEN sent with the first request that succeeded, held until the wait (see
    // VolumeRequests.CreateListeningAsync); later requests of the pipeline go the usual way.
    private VolumeStatusListener? _listener;

    public NewBlockVolumeCommand() => _requested = new(this);

    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Name { get; set; } = "";

    /// <summary>The size; from a snapshot it may be left out (the snapshot's size) or be larger (grown after the copy).</summary>
    [Parameter(ParameterSetName = Empty, Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [Parameter(ParameterSetName = FromSnapshot, Position = 1, ValueFromPipelineByPropertyName = true)]
    [Parameter(ParameterSetName = Clone, Position = 1, ValueFromPipelineByPropertyName = true)]
    [Alias("Size")]
    public int SizeGiB { get; set; }

    /// <summary>Makes the volume with this snapshot's data, on the snapshot's host (its zone; no placement).</summary>
    [Parameter(ParameterSetName = FromSnapshot, Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(SnapshotIdCompleter))]
    public Guid SnapshotId { get; set; }

    /// <summary>Makes the volume a clone of this volume, on its host (its zone; no placement).</summary>
    [Parameter(ParameterSetName = Clone, Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(VolumeIdCompleter))]
    public Guid SourceVolumeId { get; set; }

    [Parameter(ParameterSetName = Empty, ValueFromPipelineByPropertyName = true)]
    [Alias("Zone")]
    [ArgumentCompleter(typeof(ZoneCompleter))]
    public string? AvailabilityZone { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    public string? Description { get; set; }

    /// <summary>The project the volume belongs to and whose quota it counts in (default: the default project).</summary>
    [Parameter(ParameterSetName = Empty, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(ProjectNameCompleter))]
    public string? Project { get; set; }

    /// <summary>The volume type; its extra specs choose the host (default: the default type).</summary>
    [Parameter(ParameterSetName = Empty, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(VolumeTypeNameCompleter))]
    public string? VolumeType { get; set; }

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
            var fromSnapshot = ParameterSetName == FromSnapshot;
            var clone = ParameterSetName == Clone;
            // From a snapshot or a volume, no size means the source's own.
            int? size = (fromSnapshot || clone) && !MyInvocation.BoundParameters.ContainsKey(nameof(SizeGiB)) ? null : SizeGiB;
            if (size is { } s)
            {
                Validation.VolumeSize(s);
            }

            if (AvailabilityZone is not null)
            {
                Validation.AvailabilityZone(AvailabilityZone);
            }

            Validation.Description(Description);
            if (Project is not null)
            {
                TenancyValidation.ProjectName(Project);
            }

            if (VolumeType is not null)
            {
                TenancyValidation.VolumeTypeName(VolumeType);
            }

            var what = fromSnapshot ? $"{Name} ({(size is null ? "the snapshot's size" : $"{size} GiB")}, from snapshot {SnapshotId})"
                : clone ? $"{Name} ({(size is null ? "the source's size" : $"{size} GiB")}, clone of volume {SourceVolumeId})"
                : $"{Name} ({SizeGiB} GiB)";
            if (!ShouldProcess(what, "Create block volume"))
            {
                return;
            }

            var volume = fromSnapshot
                ? Run(ct => Session.Volumes.CreateFromSnapshotAsync(Name, SnapshotId, size, Description, MultiAttach.IsPresent, ct))
                : clone
                ? Run(ct => Session.Volumes.CreateCloneAsync(Name, SourceVolumeId, size, Description, MultiAttach.IsPresent, ct))
                : Wait && _listener is null
                ? CreateListening()
                : Run(ct => Session.Volumes.CreateAsync(Name, SizeGiB, AvailabilityZone, Description, MultiAttach.IsPresent, Project, VolumeType, ct));
            _requested.Add(volume, Wait, write: true);
        });
    }

    private BlockVolume CreateListening()
    {
        var (volume, listener) = Run(ct => Session.Volumes.CreateListeningAsync(Name, SizeGiB, AvailabilityZone, Description, MultiAttach.IsPresent, Project, VolumeType, ct));
        _listener = listener;
        return volume;
    }

    /// <summary>The listener, now the wait's (it disposes it).</summary>
    private VolumeStatusListener? TakeListener()
    {
        var listener = _listener;
        _listener = null;
        return listener;
    }

    /// <summary>A pipeline stopped or ended by an error before the wait: close the LISTEN connection.</summary>
    public void Dispose() => TakeListener()?.DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>A volume that ends failed is written as it is (its Status says so), not as an error.</summary>
    protected override void EndProcessing() =>
        _requested.WaitAndReport(
            items => Run(ct => Task.FromResult(
                new VolumeWaiter(this, Session.Volumes, ct).Wait(items, [VolumeStatus.Available], TimeoutSec, "Creating block volumes", TakeListener()))),
            failure: _ => null,
            write: true,
            v => ToErrorRecord(ErrorIds.WaitTimeout, ErrorKind.OperationTimeout,
                $"Volume '{v.Name}' is still {v.Status} after {TimeoutSec} s. The request goes on; use Wait-BlockVolume to wait again.", v));
}
