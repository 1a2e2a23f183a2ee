namespace BlockStore.Core;

/// <summary>
/// What the database's commit settings mean for BlockStore's promise that an accepted request is
/// never lost. A request is accepted when its INSERT commits; if the server acknowledges commits it
/// has not yet made durable (or not yet sent to its synchronous standby), a crash or a failover can
/// drop a volume that New-BlockVolume already returned.
/// </summary>
public static class Durability
{
    /// <summary>
    /// Why the server's settings can lose acknowledged commits, or null when they cannot.
    /// <paramref name="synchronousCommit"/> is the session's synchronous_commit,
    /// <paramref name="synchronousStandbyNames"/> the server's synchronous_standby_names.
    /// </summary>
    public static string? CommitRisk(string? synchronousCommit, string? synchronousStandbyNames)
    {
        var commit = (synchronousCommit ?? string.Empty).Trim().ToLowerInvariant();
        var hasSyncStandby = !string.IsNullOrWhiteSpace(synchronousStandbyNames);
        return commit switch
        {
            // "false", "no", "0" are PostgreSQL's spellings of off.
            "off" or "false" or "no" or "0" =>
                "synchronous_commit = off: the server acknowledges commits before they are written to its WAL, " +
                "so a crash of PostgreSQL can lose requests that BlockStore already accepted (a volume returned by " +
                "New-BlockVolume that never exists, or a volume shown available without its LV). Set synchronous_commit = on",
            "local" when hasSyncStandby =>
                "synchronous_commit = local with synchronous standbys configured: commits do not wait for the standby, " +
                "so a failover can lose requests that BlockStore already accepted. Set synchronous_commit = on",
            _ => null,
        };
    }
}
