namespace BlockStore.Core;

/// <summary>Backend types an agent can run.</summary>
public static class BackendType
{
    public const string Thick = "thick";
    public const string Thin = "thin";
}

/// <summary>
/// What the scheduler knows about one volume host when it places a volume: the service row
/// (enabled, frozen, heartbeat age computed by the database), the agent's last capacity report,
/// and the scheduler's own ledger of volumes already placed there.
/// </summary>
public sealed record HostCandidate
{
    public required string Host { get; init; }
    public required string Zone { get; init; }
    public bool Enabled { get; init; } = true;
    public string? DisabledReason { get; init; }
    public bool Up { get; init; } = true;
    public bool Frozen { get; init; }
    public bool Healthy { get; init; } = true;
    public string? HealthReason { get; init; }
    public string BackendType { get; init; } = Core.BackendType.Thick;

    /// <summary>Size of the volume group (thick) or thin pool (thin), from the agent's report.</summary>
    public decimal TotalGiB { get; init; }

    /// <summary>Free space the agent last reported (VG free, or pool free for thin).</summary>
    public decimal ReportedFreeGiB { get; init; }

    /// <summary>
    /// Thick: space of BlockStore's own LVs (volume-&lt;uuid&gt;) in the VG when the agent measured
    /// (Cinder's allocated_capacity_gb). With <see cref="TotalGiB"/> and <see cref="ReportedFreeGiB"/>
    /// of the same measurement it tells how much other LVs of the VG use. Null: the agent did not say.
    /// </summary>
    public decimal? ReportedAllocatedGiB { get; init; }

    /// <summary>Sum of the sizes of live volumes placed on this host (the scheduler's ledger).</summary>
    public decimal ProvisionedGiB { get; init; }

    public int ReservedPercentage { get; init; }
    public decimal MaxOverSubscriptionRatio { get; init; } = 20m;

    /// <summary>
    /// What the agent reports it can do (service row capabilities: iscsi, snapshots,
    /// volume_backend_name, and what its configuration declares), matched against volume types'
    /// extra specs. backend_type and availability_zone come from the fields above.
    /// </summary>
    public IReadOnlyDictionary<string, string> Capabilities { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// True when <paramref name="other"/> holds the same values as this host in every property
    /// placement reads (all of them; the capabilities by content, since a record compares a
    /// dictionary by reference). Placement is deterministic, so two lists of hosts that are the
    /// same by this measure get the same plan: the scheduler uses it to skip planning again when
    /// the hosts it locked are still as it planned with them.
    /// </summary>
    public bool SamePlacementInputs(HostCandidate other) =>
        Host == other.Host && Zone == other.Zone && Enabled == other.Enabled && DisabledReason == other.DisabledReason
        && Up == other.Up && Frozen == other.Frozen && Healthy == other.Healthy && HealthReason == other.HealthReason
        && BackendType == other.BackendType && TotalGiB == other.TotalGiB && ReportedFreeGiB == other.ReportedFreeGiB
        && ReportedAllocatedGiB == other.ReportedAllocatedGiB && ProvisionedGiB == other.ProvisionedGiB
        && ReservedPercentage == other.ReservedPercentage && MaxOverSubscriptionRatio == other.MaxOverSubscriptionRatio
        && SameCapabilities(Capabilities, other.Capabilities);

    private static bool SameCapabilities(IReadOnlyDictionary<string, string> a, IReadOnlyDictionary<string, string> b)
    {
        if (ReferenceEquals(a, b))
        {
            return true;
        }

        if (a.Count != b.Count)
        {
            return false;
        }

        foreach (var (key, value) in a)
        {
            if (!b.TryGetValue(key, out var theirs) || theirs != value)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The capabilities as a volume type's extra specs see them: the report plus backend_type and availability_zone.</summary>
    public IReadOnlyDictionary<string, string> MatchableCapabilities()
    {
        var all = new Dictionary<string, string>(Capabilities, StringComparer.Ordinal)
        {
            ["backend_type"] = BackendType,
            ["availability_zone"] = Zone,
        };
        return all;
    }
}

/// <summary>
/// One volume to place: its size, the zone it asks for (null: any), and its volume type's name and
/// extra specs (null or empty: any host).
/// </summary>
public sealed record PlacementRequest(int SizeGiB, string? Zone, IReadOnlyDictionary<string, string>? ExtraSpecs = null, string? VolumeType = null)
{
    public bool HasExtraSpecs => ExtraSpecs is { Count: > 0 };
}

/// <summary>The decisions for a batch, in request order, and the hosts with the space the batch took.</summary>
public sealed record BatchPlacement(IReadOnlyList<PlacementResult> Results, IReadOnlyDictionary<string, HostCandidate> Hosts);

/// <summary>Why one host was not chosen.</summary>
public sealed record HostRejection(string Host, string Reason)
{
    /// <summary>The reason's class, a bounded set fit for a metric label (RejectionClasses).</summary>
    public string Class => RejectionClasses.Of(Reason);
}

/// <summary>
/// Why a host was rejected, in a few classes: the reasons themselves carry names and numbers, too
/// many distinct values for a metric label. Read from the reasons PlacementPolicy writes (the state
/// filters, the zone filter, the capacity rules; anything else is a volume type's capabilities).
/// </summary>
public static class RejectionClasses
{
    public const string NoHosts = "no_hosts";
    public const string Disabled = "disabled";
    public const string Down = "down";
    public const string Frozen = "frozen";
    public const string Unhealthy = "unhealthy";
    public const string Zone = "zone";
    public const string Capacity = "capacity";
    public const string Capabilities = "capabilities";

    public static string Of(string reason) =>
        reason.StartsWith("disabled", StringComparison.Ordinal) ? Disabled
        : reason.StartsWith("down", StringComparison.Ordinal) ? Down
        : reason == "frozen" ? Frozen
        : reason.StartsWith("unhealthy", StringComparison.Ordinal) ? Unhealthy
        : reason.StartsWith("in zone ", StringComparison.Ordinal) ? Zone
        : reason.Contains(" GiB", StringComparison.Ordinal) ? Capacity
        : Capabilities;

    /// <summary>The distinct classes of a failed placement: no_hosts when no host was there to reject it.</summary>
    public static IReadOnlyList<string> Of(PlacementResult result) =>
        result.Rejections.Count == 0 ? [NoHosts] : result.Rejections.Select(r => r.Class).Distinct().Order(StringComparer.Ordinal).ToList();
}

public sealed record PlacementResult(string? Host, IReadOnlyList<HostRejection> Rejections, decimal? HostFreeGiB)
{
    /// <summary>
    /// Up to this many rejected hosts, a failure's reason names every one with its own reason. Beyond
    /// it, the reason counts the hosts by class and names the first few of each: with 1,000 hosts a
    /// full list was about 90 KB, written into the volume's status reason, its operation's error and
    /// its event, and printed at the user, and a full cloud failed requests at about 200/s on 2 cores
    /// (issue 11, docs/benchmarks.md).
    /// </summary>
    public const int HostsNamedInFull = 10;

    // Hosts named per class in the summary, in host-name order.
    private const int ExamplesPerClass = 3;

    public bool Placed => Host is not null;

    /// <summary>
    /// A reason a user can act on: which hosts were considered and why each was rejected (up to
    /// <see cref="HostsNamedInFull"/> hosts; beyond that, how many for each reason, with examples).
    /// </summary>
    public string Explain(int sizeGiB, string? zone, string? volumeType = null)
    {
        if (Placed)
        {
            return $"placed on {Host}";
        }

        var wanted = (zone is null ? $"{sizeGiB} GiB" : $"{sizeGiB} GiB in zone {zone}") + (volumeType is null ? "" : $" of volume type {volumeType}");
        if (Rejections.Count == 0)
        {
            return $"No volume host can take {wanted}: no volume host is registered. Start a volume agent (see Get-BlockVolumeService).";
        }

        if (Rejections.Count <= HostsNamedInFull)
        {
            return $"No volume host can take {wanted}: " +
                   string.Join("; ", Rejections.Select(r => $"{r.Host}: {r.Reason}")) + ".";
        }

        // The biggest group first; hosts of another zone last, since they say least about why the
        // request's own zone could not take it.
        var groups = Rejections.GroupBy(r => r.Class, StringComparer.Ordinal)
            .OrderBy(g => g.Key == RejectionClasses.Zone ? 1 : 0)
            .ThenByDescending(g => g.Count())
            .ThenBy(g => g.Key, StringComparer.Ordinal)
            .Select(g =>
            {
                var named = g.OrderBy(r => r.Host, StringComparer.Ordinal).Take(ExamplesPerClass).Select(r => $"{r.Host}: {r.Reason}");
                var more = g.Count() > ExamplesPerClass ? $"; and {g.Count() - ExamplesPerClass} more" : "";
                return $"{g.Count()} {ClassInWords(g.Key)} ({string.Join("; ", named)}{more})";
            });
        return $"No volume host can take {wanted}: none of {Rejections.Count} volume hosts can, " +
               string.Join(", ", groups) + ". Get-BlockVolumeService -Service volume shows every host.";
    }

    private static string ClassInWords(string rejectionClass) => rejectionClass switch
    {
        RejectionClasses.Capacity => "short of space",
        RejectionClasses.Zone => "in another zone",
        RejectionClasses.Capabilities => "without the volume type's capabilities",
        _ => rejectionClass, // disabled, down, frozen, unhealthy
    };
}

/// <summary>
/// Cinder's filter-then-weigh placement, with its capacity rules, as a pure function.
/// Filters: enabled, up, not frozen, healthy, availability zone, capacity.
/// Weigher: most free capacity first (Cinder's CapacityWeigher); ties go to the host name order
/// so that placement is deterministic and testable, or, given a <see cref="PlacementSpread"/>, to
/// that scheduler's own seeded order among hosts equally free within its band.
/// </summary>
public static class PlacementPolicy
{
    public static PlacementResult Place(int sizeGiB, string? zone, IEnumerable<HostCandidate> hosts, PlacementSpread? spread = null) =>
        Place(new PlacementRequest(sizeGiB, zone), hosts, spread);

    /// <summary>
    /// Places one request: filter every host (state, zone, extra specs, capacity), then weigh (most
    /// free first; with a <paramref name="spread"/>, hosts equally free within its band go in the
    /// spread's own order, see <see cref="PlacementSpread"/>).
    /// </summary>
    public static PlacementResult Place(PlacementRequest request, IEnumerable<HostCandidate> hosts, PlacementSpread? spread = null)
    {
        var (sizeGiB, zone) = (request.SizeGiB, request.Zone);
        var rejections = new List<HostRejection>();
        HostCandidate? best = null;
        decimal bestFree = decimal.MinValue;
        (decimal Rank, ulong Tie, string Host) bestKey = default;

        foreach (var host in hosts.OrderBy(h => h.Host, StringComparer.Ordinal))
        {
            var reason = RejectionReason(host, sizeGiB, zone, request.ExtraSpecs);
            if (reason is not null)
            {
                rejections.Add(new HostRejection(host.Host, reason));
                continue;
            }

            var free = VirtualFreeGiB(host);
            var key = Weight(host, free, spread);
            if (best is null || ByWeight.Compare(key, bestKey) < 0)
            {
                best = host;
                bestFree = free;
                bestKey = key;
            }
        }

        return new PlacementResult(best?.Host, rejections, best is null ? null : bestFree);
    }

    /// <summary>
    /// Places a batch in request order, each request seeing the space the ones before it took:
    /// the same decisions as <see cref="Place"/> called once per request with the hosts updated
    /// after each placement, without filtering every host for every request. What a host's state
    /// allows does not change within a batch, only its free space, so the eligible hosts are kept
    /// ordered by the weigher (most free, then name; with a spread, its rank and tie-break) and the
    /// first one either fits or none does (a rank is never more than the host's free space; when
    /// the first does not fit by its rank, the full filter decides). A request that fits nowhere
    /// gets <see cref="Place"/>'s full explanation. The same decisions with the same spread.
    /// </summary>
    public static BatchPlacement PlaceAll(IReadOnlyList<PlacementRequest> requests, IEnumerable<HostCandidate> hosts, PlacementSpread? spread = null)
    {
        var current = new Dictionary<string, HostCandidate>(StringComparer.Ordinal);
        foreach (var host in hosts)
        {
            current[host.Host] = host;
        }

        if (requests.Count == 1 && !requests[0].HasExtraSpecs)
        {
            return PlaceOne(requests[0], current, spread);
        }

        var anyZone = new SortedSet<(decimal Rank, ulong Tie, string Host)>(ByWeight);
        var byZone = new Dictionary<string, SortedSet<(decimal Rank, ulong Tie, string Host)>>(StringComparer.Ordinal);
        foreach (var host in current.Values)
        {
            if (StateRejection(host) is null && !ThinPoolExhausted(host))
            {
                var key = Weight(host, VirtualFreeGiB(host), spread);
                anyZone.Add(key);
                if (!byZone.TryGetValue(host.Zone, out var zoneSet))
                {
                    byZone[host.Zone] = zoneSet = new SortedSet<(decimal Rank, ulong Tie, string Host)>(ByWeight);
                }

                zoneSet.Add(key);
            }
        }

        var results = new List<PlacementResult>(requests.Count);
        foreach (var request in requests)
        {
            if (request.HasExtraSpecs)
            {
                // A volume type with extra specs filters hosts by what they report: the full filter
                // over every host (as it stands after the placements before it), then the same weigher.
                var typed = Place(request, current.Values, spread);
                if (typed.Placed)
                {
                    Take(typed.Host!, request.SizeGiB);
                }

                results.Add(typed);
                continue;
            }

            var eligible = request.Zone is null ? anyZone : byZone.GetValueOrDefault(request.Zone);
            if (eligible is not { Count: > 0 } || eligible.Min.Rank < request.SizeGiB)
            {
                var fallback = Place(request, current.Values, spread);
                if (fallback.Placed)
                {
                    Take(fallback.Host!, request.SizeGiB);
                }

                results.Add(fallback);
                continue;
            }

            var name = eligible.Min.Host;
            var free = VirtualFreeGiB(current[name]);
            Take(name, request.SizeGiB);
            results.Add(new PlacementResult(name, [], free));
        }

        return new BatchPlacement(results, current);

        // The host takes the volume: its provisioned space grows, and its place in the weigher's order moves.
        void Take(string name, int sizeGiB)
        {
            var before = current[name];
            var after = before with { ProvisionedGiB = before.ProvisionedGiB + sizeGiB };
            current[name] = after;
            var key = Weight(before, VirtualFreeGiB(before), spread);
            if (anyZone.Remove(key))
            {
                var moved = Weight(after, VirtualFreeGiB(after), spread);
                anyZone.Add(moved);
                byZone[before.Zone].Remove(key);
                byZone[before.Zone].Add(moved);
            }
        }
    }

    /// <summary>
    /// <see cref="PlaceAll"/> for a batch of one request without extra specs (a user's single
    /// create, the common case): the first host in the weigher's order found in one pass over the
    /// hosts instead of ordering them all (about half the time over 1,000 hosts). The same
    /// decisions: the eligible host first in the weigher's order either fits or none does, as in
    /// PlaceAll.
    /// </summary>
    private static BatchPlacement PlaceOne(PlacementRequest request, Dictionary<string, HostCandidate> current, PlacementSpread? spread)
    {
        HostCandidate? best = null;
        (decimal Rank, ulong Tie, string Host) bestKey = default;
        foreach (var host in current.Values)
        {
            if ((request.Zone is null || string.Equals(request.Zone, host.Zone, StringComparison.Ordinal))
                && StateRejection(host) is null && !ThinPoolExhausted(host))
            {
                var key = Weight(host, VirtualFreeGiB(host), spread);
                if (best is null || ByWeight.Compare(key, bestKey) < 0)
                {
                    best = host;
                    bestKey = key;
                }
            }
        }

        PlacementResult result;
        if (best is null || bestKey.Rank < request.SizeGiB)
        {
            result = Place(request, current.Values, spread);
        }
        else
        {
            result = new PlacementResult(best.Host, [], VirtualFreeGiB(best));
        }

        if (result.Placed)
        {
            var before = current[result.Host!];
            current[result.Host!] = before with { ProvisionedGiB = before.ProvisionedGiB + request.SizeGiB };
        }

        return new BatchPlacement([result], current);
    }

    // The weigher's order: highest rank (the free space; with a spread, rounded down to its band)
    // first, then the spread's tie-break (0 without one), then the host name.
    private static readonly Comparer<(decimal Rank, ulong Tie, string Host)> ByWeight = Comparer<(decimal Rank, ulong Tie, string Host)>.Create(
        (x, y) => x.Rank != y.Rank ? y.Rank.CompareTo(x.Rank) : x.Tie != y.Tie ? x.Tie.CompareTo(y.Tie) : string.CompareOrdinal(x.Host, y.Host));

    private static (decimal Rank, ulong Tie, string Host) Weight(HostCandidate host, decimal free, PlacementSpread? spread) =>
        spread is null ? (free, 0UL, host.Host) : (spread.Rank(host, free), spread.Tie(host.Host), host.Host);

    /// <summary>Returns why a host cannot take the volume, or null if it can.</summary>
    public static string? RejectionReason(HostCandidate host, int sizeGiB, string? zone, IReadOnlyDictionary<string, string>? extraSpecs = null)
    {
        if (StateRejection(host) is { } state)
        {
            return state;
        }

        if (zone is not null && !string.Equals(zone, host.Zone, StringComparison.Ordinal))
        {
            return $"in zone {host.Zone}, not {zone}";
        }

        if (ExtraSpecMatcher.Mismatch(extraSpecs, host.MatchableCapabilities()) is { } mismatch)
        {
            return mismatch;
        }

        return CapacityRejection(host, sizeGiB);
    }

    /// <summary>Why the host's service state (enabled, up, frozen, healthy) rules it out, or null.</summary>
    public static string? StateRejection(HostCandidate host)
    {
        if (!host.Enabled)
        {
            return host.DisabledReason is { Length: > 0 } r ? $"disabled ({r})" : "disabled";
        }

        if (!host.Up)
        {
            return "down (no heartbeat within the down threshold)";
        }

        if (host.Frozen)
        {
            return "frozen";
        }

        if (!host.Healthy)
        {
            return host.HealthReason is { Length: > 0 } h ? $"unhealthy ({h})" : "unhealthy";
        }

        return null;
    }

    /// <summary>
    /// Cinder's CapacityFilter rules. Thick: the request must fit in the free space left after the
    /// reserved percentage. Thin: the provisioned total after placement must stay within
    /// total × max_over_subscription_ratio, and the pool must still have unreserved free space.
    /// </summary>
    public static string? CapacityRejection(HostCandidate host, int sizeGiB)
    {
        var reserved = host.TotalGiB * host.ReservedPercentage / 100m;
        if (host.BackendType == BackendType.Thin)
        {
            var limit = host.TotalGiB * host.MaxOverSubscriptionRatio;
            if (host.ProvisionedGiB + sizeGiB > limit)
            {
                return $"thin capacity {Fmt(host.TotalGiB)} GiB × ratio {Fmt(host.MaxOverSubscriptionRatio)} allows {Fmt(limit)} GiB provisioned; " +
                       $"{Fmt(host.ProvisionedGiB)} GiB already provisioned, {sizeGiB} GiB more does not fit";
            }

            if (ThinPoolExhausted(host))
            {
                return $"thin pool has {Fmt(host.ReportedFreeGiB)} GiB free, within the {host.ReservedPercentage}% reserve";
            }

            return null;
        }

        var free = VirtualFreeGiB(host);
        if (free >= sizeGiB)
        {
            return null;
        }

        var foreign = ForeignUsedGiB(host);
        return foreign > reserved
            ? $"capacity {Fmt(host.TotalGiB)} GiB, {Fmt(foreign)} GiB used by logical volumes that are not BlockStore's (agent report), " +
              $"{Fmt(host.ProvisionedGiB)} GiB provisioned: {Fmt(Math.Max(0, free))} GiB free for {sizeGiB} GiB"
            : $"capacity {Fmt(host.TotalGiB)} GiB, {Fmt(host.ProvisionedGiB)} GiB provisioned, {host.ReservedPercentage}% reserved: " +
              $"{Fmt(Math.Max(0, free))} GiB free for {sizeGiB} GiB";
    }

    /// <summary>Thin: the pool has no free space left outside its reserve, whatever the over-subscription allows.</summary>
    public static bool ThinPoolExhausted(HostCandidate host) =>
        host.BackendType == BackendType.Thin && host.ReportedFreeGiB - host.TotalGiB * host.ReservedPercentage / 100m <= 0;

    /// <summary>
    /// Thick: what LVs that are not BlockStore's use in the VG, from one agent measurement: total −
    /// free − our LVs. It changes only when someone else creates or removes LVs, so a report a few
    /// seconds old is still right, unlike the VG's free space, which lags behind every placement.
    /// 0 for thin (the pool's own free space is checked) and when the agent did not report it.
    /// </summary>
    public static decimal ForeignUsedGiB(HostCandidate host) =>
        host.BackendType == BackendType.Thin || host.ReportedAllocatedGiB is not { } ours
            ? 0
            : Math.Max(0, host.TotalGiB - host.ReportedFreeGiB - ours);

    /// <summary>
    /// Free space as the filter and the weigher see it. Thick: Cinder's CapacityFilter,
    /// min(free, total − reserved − provisioned), with the free space of the VG now taken as
    /// total − foreign − provisioned rather than the agent's last vg_free, which cannot know the
    /// placements the agent has not run yet (the ledger does, at once). That is
    /// total − provisioned − max(reserved, foreign): LVs of others count against the reserve first,
    /// as they do in Cinder. Thin: the over-subscribed capacity not yet provisioned.
    /// </summary>
    public static decimal VirtualFreeGiB(HostCandidate host)
    {
        var reserved = host.TotalGiB * host.ReservedPercentage / 100m;
        if (host.BackendType == BackendType.Thin)
        {
            return host.TotalGiB * host.MaxOverSubscriptionRatio - host.ProvisionedGiB;
        }

        return host.TotalGiB - host.ProvisionedGiB - Math.Max(reserved, ForeignUsedGiB(host));
    }

    private static string Fmt(decimal v) => decimal.Round(v, 1).ToString("0.#", System.Globalization.CultureInfo.InvariantCulture);
}
