using System.Management.Automation;
using BlockStore.Core;

namespace BlockStore.Commands;

/// <summary>Helpers shared by the service cmdlets.</summary>
internal static class ServiceLookup
{
    /// <summary>Host names the user spelled out (no wildcard) that matched no service.</summary>
    public static IEnumerable<BlockStoreException> Missing(IEnumerable<string>? requested, string? service, IEnumerable<string> found)
    {
        var hosts = found.ToHashSet(StringComparer.OrdinalIgnoreCase);
        // Like Get-Item: a literal name that matches nothing is an error, a pattern is not.
        return (requested ?? [])
            .Where(name => !WildcardPattern.ContainsWildcardCharacters(name) && !hosts.Contains(name))
            .Select(name => ServiceRules.NotFound(name, service?.ToLowerInvariant()));
    }

    public static BlockVolumeServiceLogLevel LogLevelOf(BlockVolumeService s) =>
        new() { Host = s.Host, Service = s.Service, Level = s.LogLevel };
}
