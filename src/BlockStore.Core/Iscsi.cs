using System.Text.RegularExpressions;

namespace BlockStore.Core;

/// <summary>
/// iSCSI names. Target and backstore names derive from the volume id (never from
/// user text), so every retry of an attach finds what an earlier attempt built.
/// </summary>
public static partial class Iscsi
{
    /// <summary>Cinder's default target_prefix.</summary>
    public const string DefaultTargetPrefix = "iqn.2010-10.org.openstack";

    /// <summary>RFC 3720: an iSCSI name is at most 223 bytes.</summary>
    public const int MaxNameLength = 223;

    // iqn.yyyy-mm.reversed.domain[:anything-unique]. The alphabet is narrower than the RFC allows
    // on purpose: these names go into targetcli command lines, where spaces, quotes and '=' would
    // change the meaning; no real initiator name needs them.
    [GeneratedRegex("^iqn\\.[0-9]{4}-[01][0-9]\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+(:[a-z0-9._:-]+)?$")]
    private static partial Regex IqnPattern();

    [GeneratedRegex("^eui\\.[0-9a-f]{16}$")]
    private static partial Regex EuiPattern();

    /// <summary>The volume's target IQN: prefix:volume-uuid, as Cinder names it.</summary>
    public static string TargetIqn(string prefix, Guid volumeId) => $"{prefix}:{StorageNames.Volume(volumeId)}";

    /// <summary>The volume id of a target IQN of our naming under <paramref name="prefix"/>, else null.</summary>
    public static Guid? VolumeIdOfTarget(string prefix, string iqn) =>
        iqn.StartsWith(prefix + ":", StringComparison.Ordinal) ? StorageNames.VolumeIdOf(iqn[(prefix.Length + 1)..]) : null;

    /// <summary>True for a name of the form iqn.yyyy-mm.domain[:x] or eui.16-hex-digits (lower case).</summary>
    public static bool IsValidName(string? name) =>
        !string.IsNullOrEmpty(name) && name.Length <= MaxNameLength && (IqnPattern().IsMatch(name) || EuiPattern().IsMatch(name));

    /// <summary>A target prefix: an iqn name without the ':' part.</summary>
    public static bool IsValidTargetPrefix(string? prefix) =>
        IsValidName(prefix) && prefix!.StartsWith("iqn.", StringComparison.Ordinal) && !prefix.Contains(':') && prefix.Length <= 150;

    /// <summary>
    /// Returns the initiator IQN in canonical (lower-case) form, or throws InvalidInitiatorIqn.
    /// iSCSI names compare case-insensitively; LIO stores ACLs lower-case.
    /// </summary>
    public static string NormalizeInitiator(string? iqn)
    {
        var n = iqn?.Trim().ToLowerInvariant();
        if (!IsValidName(n))
        {
            throw new BlockStoreException(ErrorIds.InvalidInitiatorIqn, ErrorKind.InvalidArgument,
                $"Initiator name '{iqn}' is not a valid iSCSI name: use iqn.yyyy-mm.reversed.domain[:identifier] " +
                "(letters, digits, '.', '-', ':') or eui. followed by 16 hex digits, at most 223 characters.", iqn);
        }

        return n!;
    }
}
