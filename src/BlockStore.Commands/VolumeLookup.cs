using System.Management.Automation;
using BlockStore.Core;
using BlockStore.Data;

namespace BlockStore.Commands;

/// <summary>
/// The volumes a user named with -Name (wildcards) or -Id, for the cmdlets that act on them. Like
/// Get-Item, an exact name or an id that matches nothing is a VolumeNotFound error of its own; a
/// wildcard that matches nothing is none. One place, so every cmdlet says it the same way.
/// </summary>
internal static class VolumeLookup
{
    /// <summary>
    /// Finds the volumes by name patterns (when any are given) or by ids and reports each one that
    /// is missing. A malformed pattern ends the command (InvalidWildcardPattern) before anything is read.
    /// </summary>
    public static List<BlockVolume> Find(BlockStoreCmdlet cmdlet, string[]? names, Guid[]? ids, bool includeDeletedIds = false)
    {
        VolumeFilter filter;
        if (names is { Length: > 0 })
        {
            foreach (var n in names)
            {
                cmdlet.Terminating(() => { WildcardTranslator.Validate(n); return 0; });
            }

            filter = new VolumeFilter(NamePatterns: names);
        }
        else
        {
            filter = new VolumeFilter(Ids: ids ?? [], IncludeDeleted: includeDeletedIds);
        }

        var found = cmdlet.Terminating(() => cmdlet.Run(ct => Session.Volumes.ListAsync(filter, ct)));
        ReportMissing(cmdlet, found, names, ids);
        return found;
    }

    /// <summary>A VolumeNotFound error for each exact name and each id that none of <paramref name="found"/> has.</summary>
    public static void ReportMissing(BlockStoreCmdlet cmdlet, IReadOnlyCollection<BlockVolume> found, string[]? names, Guid[]? ids)
    {
        foreach (var n in names ?? [])
        {
            if (!WildcardPattern.ContainsWildcardCharacters(n)
                && !found.Any(v => string.Equals(v.Name, WildcardTranslator.Unescape(n), StringComparison.OrdinalIgnoreCase)))
            {
                cmdlet.WriteError(BlockStoreCmdlet.ToErrorRecord(ErrorIds.VolumeNotFound, ErrorKind.ObjectNotFound, $"No volume named '{n}'.", n));
            }
        }

        foreach (var id in ids ?? [])
        {
            if (found.All(v => v.Id != id))
            {
                cmdlet.WriteError(BlockStoreCmdlet.ToErrorRecord(ErrorIds.VolumeNotFound, ErrorKind.ObjectNotFound, $"No volume with id {id}.", id));
            }
        }
    }
}
