using System.Management.Automation;
using BlockStore.Core;

namespace BlockStore.Commands;

/// <summary>
/// What Get-BlockVolumeService and Get-BlockVolumeServiceLogLevel share: select services by host
/// name patterns and type, and report a literal host name that matched nothing.
/// </summary>
public abstract class ServiceQueryCmdlet : BlockStoreCmdlet
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Host")]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(HostNameCompleter))]
    public string[]? HostName { get; set; }

    [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)]
    [ValidateSet(ServiceType.Volume, ServiceType.Scheduler)]
    public string? Service { get; set; }

    /// <summary>
    /// The matching services. Like Get-Item, a name without wildcards that matches nothing writes a
    /// non-terminating ServiceNotFound error; a pattern that matches nothing does not.
    /// </summary>
    protected List<BlockVolumeService> Query()
    {
        // ValidateSet accepts any casing; the rows are stored in lower case.
        var service = Service?.ToLowerInvariant();

        // A literal name that is not a valid host name can match nothing: InvalidHostName for it,
        // before any round trip, and the query runs with the other names (none left: no query).
        var names = HostName;
        if (names is not null)
        {
            names = names.Where(n => WildcardPattern.ContainsWildcardCharacters(n) || IsValidHostName(n)).ToArray();
            if (names.Length == 0)
            {
                return [];
            }
        }

        var services = Terminating(() => Run(ct => Session.Services.ListAsync(names, service, ct)));
        var found = services.Select(s => s.Host).ToHashSet(StringComparer.OrdinalIgnoreCase);
        foreach (var name in (names ?? []).Where(n => !WildcardPattern.ContainsWildcardCharacters(n) && !found.Contains(n)))
        {
            WriteError(ToErrorRecord(ServiceRules.NotFound(name, service)));
        }

        return services;
    }

    private bool IsValidHostName(string name)
    {
        try
        {
            // Reads match host names without regard to case (ILIKE), as PowerShell users expect:
            // NODE1 finds node1. Only a name that no casing makes valid is refused.
            Validation.HostName(name.ToLowerInvariant());
            return true;
        }
        catch (BlockStoreException)
        {
            // Invalid in every casing, so invalid as typed too: the error names it as the user wrote it.
            PerItem(() => Validation.HostName(name));
            return false;
        }
    }
}
