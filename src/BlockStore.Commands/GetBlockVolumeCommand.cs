using System.Management.Automation;
using BlockStore.Core;
using BlockStore.Data;

namespace BlockStore.Commands;

/// <summary>
/// Get-BlockVolume: lists volumes by name (wildcards), id, status or host, in creation order. Each
/// volume is written as the database sends it (the first one does not wait for the last), and
/// -First/-Skip (SupportsPaging) are LIMIT/OFFSET in the query, not a filter of a full read.
/// </summary>
[Cmdlet(VerbsCommon.Get, "BlockVolume", DefaultParameterSetName = ByName, SupportsPaging = true)]
[OutputType(typeof(BlockVolume))]
public sealed class GetBlockVolumeCommand : BlockStoreCmdlet
{
    private const string ByName = "ByName";
    private const string ById = "ById";

    [Parameter(ParameterSetName = ByName, Position = 0)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(VolumeNameCompleter))]
    public string[]? Name { get; set; }

    [Parameter(ParameterSetName = ById, Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [Alias("VolumeId")]
    [ArgumentCompleter(typeof(VolumeIdCompleter))]
    public Guid[]? Id { get; set; }

    [Parameter]
    [ArgumentCompleter(typeof(StatusCompleter))]
    public string[]? Status { get; set; }

    [Parameter]
    [Alias("Host")]
    [ArgumentCompleter(typeof(HostNameCompleter))]
    public string[]? HostName { get; set; }

    /// <summary>Only the volumes of these projects.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(ProjectNameCompleter))]
    public string[]? Project { get; set; }

    /// <summary>Only the volumes of these volume types.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(VolumeTypeNameCompleter))]
    public string[]? VolumeType { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var project in Project ?? [])
        {
            Terminating(() => { TenancyValidation.ProjectName(project); return 0; });
        }

        foreach (var type in VolumeType ?? [])
        {
            Terminating(() => { TenancyValidation.VolumeTypeName(type); return 0; });
        }

        // A malformed host name or status can match nothing: say so instead of returning an empty list.
        foreach (var host in HostName ?? [])
        {
            Terminating(() => { Validation.HostName(host); return 0; });
        }

        // A malformed wildcard is refused before anything is read (it used to match nothing, silently).
        foreach (var n in Name ?? [])
        {
            Terminating(() => { WildcardTranslator.Validate(n); return 0; });
        }

        var statuses = Status?.Select(s => Terminating(() => Validation.VolumeStatusName(s))).ToList();
        var filter = new VolumeFilter(Name, Id, statuses, HostName, Skip: (long)Math.Min(PagingParameters.Skip, long.MaxValue),
            First: PagingParameters.First == ulong.MaxValue ? null : (long)Math.Min(PagingParameters.First, long.MaxValue),
            Projects: Project, VolumeTypes: VolumeType);
        if (PagingParameters.IncludeTotalCount)
        {
            var total = Terminating(() => Run(ct => Session.Volumes.CountAsync(filter, ct)));
            WriteObject(PagingParameters.NewTotalCount((ulong)total, 1.0));
        }

        // Kept only to say which asked-for names and ids are missing (few: the user typed them).
        var asked = Name is { Length: > 0 } || Id is { Length: > 0 };
        var seen = new List<BlockVolume>();
        Terminating(() =>
        {
            var rows = Session.Volumes.StreamAsync(filter, StopToken).GetAsyncEnumerator(StopToken);
            try
            {
                while (Run(_ => rows.MoveNextAsync().AsTask()))
                {
                    WriteObject(rows.Current);
                    if (asked)
                    {
                        seen.Add(rows.Current);
                    }
                }
            }
            finally
            {
                rows.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }

            return 0;
        });

        // Like Get-Item: asking for a specific name or id that does not exist is an error. With
        // -First/-Skip a page may leave out what exists: only a read without paging can tell.
        if (PagingParameters.First == ulong.MaxValue && PagingParameters.Skip == 0)
        {
            VolumeLookup.ReportMissing(this, seen, Name, Id);
        }
    }
}
