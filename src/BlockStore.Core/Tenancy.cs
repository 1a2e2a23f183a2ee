using System.Text.RegularExpressions;

namespace BlockStore.Core;

/// <summary>The resources a quota limits (Cinder's names).</summary>
public static class QuotaResource
{
    public const string Volumes = "volumes";
    public const string Gigabytes = "gigabytes";
    public const string Snapshots = "snapshots";

    public static readonly IReadOnlyList<string> All = [Volumes, Gigabytes, Snapshots];

    /// <summary>A limit of -1 is no limit (Cinder's spelling).</summary>
    public const long Unlimited = -1;
}

/// <summary>
/// Input rules for projects, volume types and quotas (issue 13): the cmdlets refuse bad input
/// before writing anything, and the data layer checks again (the database's CHECKs say the same).
/// </summary>
public static partial class TenancyValidation
{
    public const string DefaultProject = "default";
    public const int MaxExtraSpecs = 64;
    public const int MaxExtraSpecLength = 255;

    // Project names are lower case: tenants' database roles will be derived from them.
    [GeneratedRegex("^[a-z0-9][a-z0-9_-]{0,62}$")]
    private static partial Regex ProjectNamePattern();

    // Volume type names follow the volume name rules.
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]
    private static partial Regex TypeNamePattern();

    // Extra spec keys as Cinder writes them: "backend_type", "capabilities:iscsi", "volume_backend_name".
    [GeneratedRegex("^[A-Za-z0-9_][A-Za-z0-9_:.-]{0,254}$")]
    private static partial Regex ExtraSpecKeyPattern();

    public static void ProjectName(string? name)
    {
        if (string.IsNullOrEmpty(name) || !ProjectNamePattern().IsMatch(name))
        {
            throw new BlockStoreException(ErrorIds.InvalidProjectName, ErrorKind.InvalidArgument,
                $"Project name '{name}' is not valid: use 1-63 lower-case letters, digits, '_' and '-', starting with a letter or digit.", name);
        }
    }

    public static void VolumeTypeName(string? name)
    {
        if (string.IsNullOrEmpty(name) || !TypeNamePattern().IsMatch(name))
        {
            throw new BlockStoreException(ErrorIds.InvalidVolumeTypeName, ErrorKind.InvalidArgument,
                $"Volume type name '{name}' is not valid: use 1-63 characters from A-Z, a-z, 0-9, '.', '_' and '-', starting with a letter or digit.", name);
        }
    }

    /// <summary>A quota limit: -1 (no limit) or a count of 0 and more.</summary>
    public static void QuotaLimit(string resource, long limit)
    {
        if (limit < QuotaResource.Unlimited)
        {
            throw new BlockStoreException(ErrorIds.InvalidQuotaLimit, ErrorKind.InvalidArgument,
                $"A quota limit for {resource} must be -1 (no limit) or 0 and more; {limit} is not.", limit);
        }
    }

    /// <summary>
    /// Extra specs: keys as Cinder writes them, non-empty string values, at most 64 of them. The
    /// reserved keys must say something the scheduler can match: backend_type is thin or thick,
    /// iscsi is true or false.
    /// </summary>
    public static IReadOnlyDictionary<string, string> ExtraSpecs(IEnumerable<KeyValuePair<string, string?>> specs)
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in specs)
        {
            if (string.IsNullOrEmpty(key) || !ExtraSpecKeyPattern().IsMatch(key))
            {
                throw new BlockStoreException(ErrorIds.InvalidExtraSpec, ErrorKind.InvalidArgument,
                    $"Extra spec key '{key}' is not valid: use 1-255 characters from A-Z, a-z, 0-9, '_', ':', '.' and '-'.", key);
            }

            if (string.IsNullOrWhiteSpace(value) || value.Length > MaxExtraSpecLength)
            {
                throw new BlockStoreException(ErrorIds.InvalidExtraSpec, ErrorKind.InvalidArgument,
                    $"Extra spec '{key}' needs a value of 1-{MaxExtraSpecLength} characters.", key);
            }

            var bare = ExtraSpecMatcher.CapabilityName(key);
            if (bare == "backend_type" && value is not (BackendType.Thin or BackendType.Thick))
            {
                throw new BlockStoreException(ErrorIds.InvalidExtraSpec, ErrorKind.InvalidArgument,
                    $"Extra spec '{key}' must be 'thin' or 'thick', not '{value}'.", key);
            }

            if (bare == "iscsi" && !bool.TryParse(value, out _))
            {
                throw new BlockStoreException(ErrorIds.InvalidExtraSpec, ErrorKind.InvalidArgument,
                    $"Extra spec '{key}' must be 'true' or 'false', not '{value}'.", key);
            }

            if (!result.TryAdd(key, value))
            {
                throw new BlockStoreException(ErrorIds.InvalidExtraSpec, ErrorKind.InvalidArgument, $"Extra spec '{key}' is given twice.", key);
            }
        }

        if (result.Count > MaxExtraSpecs)
        {
            throw new BlockStoreException(ErrorIds.InvalidExtraSpec, ErrorKind.InvalidArgument,
                $"A volume type has at most {MaxExtraSpecs} extra specs ({result.Count} given).", result.Count);
        }

        return result;
    }
}

/// <summary>
/// Cinder's CapabilitiesFilter, as a pure function: a host matches a volume type when every extra
/// spec equals what the host reports for that capability. Keys may be scoped "capabilities:x"
/// (Cinder's spelling) or bare "x"; other scopes ("qos:...", "volume:...") are not for the
/// scheduler and are ignored. Values compare case-insensitively ("True" = "true").
/// </summary>
public static class ExtraSpecMatcher
{
    /// <summary>
    /// What an agent measures itself (and the bookkeeping key 'declared'): never taken from its
    /// configuration, so a host cannot claim to be thin or to export iSCSI when it does not.
    /// </summary>
    public static readonly IReadOnlySet<string> MeasuredCapabilities = new HashSet<string>(StringComparer.Ordinal)
        { "backend_type", "availability_zone", "iscsi", "snapshots", "block_copy", "declared" };

    /// <summary>The capability a key asks about, or null when the key is not for the scheduler.</summary>
    public static string? CapabilityName(string key)
    {
        var colon = key.IndexOf(':');
        if (colon < 0)
        {
            return key;
        }

        return key[..colon] == "capabilities" ? key[(colon + 1)..] : null;
    }

    /// <summary>Why the host does not match the specs ("backend_type=thin (host: thick)"), or null when it does.</summary>
    public static string? Mismatch(IReadOnlyDictionary<string, string>? specs, IReadOnlyDictionary<string, string> capabilities)
    {
        if (specs is null || specs.Count == 0)
        {
            return null;
        }

        var failed = new List<string>();
        foreach (var (key, wanted) in specs.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (CapabilityName(key) is not { } name)
            {
                continue;
            }

            var has = capabilities.GetValueOrDefault(name);
            if (has is null || !string.Equals(has, wanted, StringComparison.OrdinalIgnoreCase))
            {
                failed.Add($"{key}={wanted} (host: {has ?? "not reported"})");
            }
        }

        return failed.Count == 0 ? null : "volume type wants " + string.Join(", ", failed);
    }
}
