namespace BlockStore.Core;

/// <summary>The kinds of service row in bs.services (its CHECK constraint allows exactly these).</summary>
public static class ServiceType
{
    public const string Volume = "volume";
    public const string Scheduler = "scheduler";

    public static readonly IReadOnlyList<string> All = [Volume, Scheduler];
}

/// <summary>The state change an operator asks for on a service.</summary>
public enum ServiceChange
{
    Enable,
    Disable,
    Freeze,
    Thaw,
}

/// <summary>
/// The rules for operator changes to services, shared by the cmdlets (which refuse before
/// writing) and the data layer (which re-checks, so no other client stores what they refuse).
/// </summary>
public static class ServiceRules
{
    /// <summary>Throws when <paramref name="change"/> with <paramref name="reason"/> is not allowed on a service of this type.</summary>
    public static void CheckChange(string service, ServiceChange change, string? reason)
    {
        Validation.DisableReason(reason);
        if (reason is not null && change != ServiceChange.Disable)
        {
            throw new BlockStoreException(ErrorIds.InvalidReason, ErrorKind.InvalidArgument,
                $"A reason is recorded only when a service is disabled, not on {change.ToString().ToLowerInvariant()}.", reason);
        }

        // A frozen scheduler would look held back while still placing volumes: refuse rather
        // than store a flag that has no effect (the trap Cinder's scheduler disable flag is).
        if (change is ServiceChange.Freeze or ServiceChange.Thaw && service != ServiceType.Volume)
        {
            throw new BlockStoreException(ErrorIds.InvalidServiceChange, ErrorKind.InvalidOperation,
                $"Only volume services can be frozen or thawed; a {service} service holds no volumes. " +
                "Use Disable-BlockVolumeService to stop a scheduler from placing requests.", service);
        }
    }

    /// <summary>The event text for a change, in the past tense.</summary>
    public static string Describe(string host, string service, ServiceChange change, string? reason)
    {
        var done = change switch
        {
            ServiceChange.Enable => "enabled",
            ServiceChange.Disable => "disabled",
            ServiceChange.Freeze => "frozen",
            ServiceChange.Thaw => "thawed",
            _ => throw new ArgumentOutOfRangeException(nameof(change)),
        };
        return reason is null ? $"{service} service on {host} {done}" : $"{service} service on {host} {done}: {reason}";
    }

    /// <summary>The error for a (host, service) pair that is not registered.</summary>
    public static BlockStoreException NotFound(string host, string? service) =>
        new(ErrorIds.ServiceNotFound, ErrorKind.ObjectNotFound,
            service is null
                ? $"No service is registered on host '{host}'. Get-BlockVolumeService lists the registered ones."
                : $"No {service} service is registered on host '{host}'. Get-BlockVolumeService lists the registered ones.",
            service is null ? host : $"{host}/{service}");
}
