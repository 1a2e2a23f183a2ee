using System.Management.Automation;
using BlockStore.Core;

namespace BlockStore.Commands;

/// <summary>
/// Set-BlockStoreQuota: sets a project's limits (or, with -Default, the defaults for every project
/// without its own), over all volume types or, with -VolumeType, for one type. -1 is no limit.
/// Operators only: a tenant cannot raise its own quota (the database refuses it).
/// </summary>
[Cmdlet(VerbsCommon.Set, "BlockStoreQuota", DefaultParameterSetName = ByProject, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(BlockStoreQuota))]
public sealed class SetBlockStoreQuotaCommand : BlockStoreCmdlet
{
    private const string ByProject = "ByProject";
    private const string Defaults = "Default";

    [Parameter(ParameterSetName = ByProject, Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Name")]
    [ArgumentCompleter(typeof(ProjectNameCompleter))]
    public string Project { get; set; } = "";

    /// <summary>Sets the default limits, used by every project without a limit of its own.</summary>
    [Parameter(ParameterSetName = Defaults, Mandatory = true)]
    public SwitchParameter Default { get; set; }

    /// <summary>Sets the limits for volumes of this type only (else over all types).</summary>
    [Parameter]
    [ArgumentCompleter(typeof(VolumeTypeNameCompleter))]
    public string? VolumeType { get; set; }

    /// <summary>How many volumes (not deleted) the project may have; -1: no limit.</summary>
    [Parameter]
    public long? Volumes { get; set; }

    /// <summary>How many GiB of volumes and snapshots the project may have; -1: no limit.</summary>
    [Parameter]
    public long? Gigabytes { get; set; }

    /// <summary>How many snapshots (not deleted) the project may have; -1: no limit.</summary>
    [Parameter]
    public long? Snapshots { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord() =>
        PerItem(() =>
        {
            var limits = new Dictionary<string, long>();
            foreach (var (resource, limit) in new[] { (QuotaResource.Volumes, Volumes), (QuotaResource.Gigabytes, Gigabytes), (QuotaResource.Snapshots, Snapshots) })
            {
                if (limit is { } given)
                {
                    limits[resource] = given;
                }
            }
            if (limits.Count == 0)
            {
                throw new BlockStoreException(ErrorIds.InvalidQuotaLimit, ErrorKind.InvalidArgument,
                    "Give at least one of -Volumes, -Gigabytes and -Snapshots (-1 for no limit).", null);
            }

            var project = Default ? null : Project;
            if (project is not null)
            {
                TenancyValidation.ProjectName(project);
            }

            if (VolumeType is not null)
            {
                TenancyValidation.VolumeTypeName(VolumeType);
            }

            foreach (var (resource, limit) in limits)
            {
                TenancyValidation.QuotaLimit(resource, limit);
            }

            var target = (project is null ? "default quota" : $"quota of project {project}") + (VolumeType is null ? "" : $" for volume type {VolumeType}");
            var change = string.Join(", ", limits.Select(kv => $"{kv.Key}={kv.Value}"));
            if (!ShouldProcess(target, $"Set {change}"))
            {
                return;
            }

            Run(async ct => { await Session.Quotas.SetAsync(project, VolumeType, limits, ct); return 0; });
            if (PassThru)
            {
                var lines = Run(ct => Session.Quotas.ListAsync(project is null ? null : [project], usage: project is not null, defaults: project is null, ct));
                WriteObject(lines.Where(l => l.VolumeType == VolumeType && limits.ContainsKey(l.Resource)), enumerateCollection: true);
            }
        });
}
