namespace BlockStore.Data;

/// <summary>
/// LISTEN/NOTIFY channel names. Payloads carry ids or host names only, never secrets: any role
/// can LISTEN on any channel. A notification is a hint to look now; the periodic poll is the
/// guarantee, so a lost notification only delays work.
/// </summary>
public static class Channels
{
    /// <summary>A pending operation exists (payload: operation id).</summary>
    public const string Schedule = "bs_schedule";

    /// <summary>A host has an operation to run (payload: host name).</summary>
    public const string Agent = "bs_agent";

    /// <summary>A service's settings changed: log level, enabled, frozen (payload: host/service).</summary>
    public const string Control = "bs_control";

    /// <summary>
    /// A volume reached a final status (payload: volume id), or an attachment did (payload: attachment
    /// id); wakes cmdlets waiting with -Wait.
    /// </summary>
    public const string VolumeStatus = "bs_volume";
}
