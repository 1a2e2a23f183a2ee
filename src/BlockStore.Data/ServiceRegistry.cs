using BlockStore.Core;
using Npgsql;

namespace BlockStore.Data;

/// <summary>A volume agent's capacity report, sent with each heartbeat.</summary>
public sealed record CapacityReport(
    string BackendType,
    decimal TotalGiB,
    decimal FreeGiB,
    decimal AllocatedGiB,
    bool Healthy,
    string? HealthReason,
    int ReservedPercentage,
    decimal MaxOverSubscriptionRatio);

/// <summary>
/// SQL shared by every query that judges a service, so the cmdlets and the scheduler agree on
/// what "up" means. It expects the service row aliased as s.
/// </summary>
internal static class ServiceSql
{
    /// <summary>
    /// Up/down from the database clock against the cluster-wide threshold, never the caller's clock.
    /// The threshold is a scalar subquery, so PostgreSQL reads it once per statement (an InitPlan):
    /// called bare, the function was evaluated for every row, and over 1,000 hosts the scheduler's
    /// signature read took about 7 ms instead of 0.5 ms (issue 11, docs/benchmarks.md).
    /// </summary>
    public const string Up =
        "(s.heartbeat_at IS NOT NULL AND s.heartbeat_at >= now() - make_interval(secs => (SELECT bs.service_down_seconds())))";
}

/// <summary>
/// The service registry: registration and heartbeats from the hosts, state changes from the
/// operator. Up/down is computed by the database from its own clock (now()).
/// </summary>
public sealed class ServiceRegistry(StoreConnection store)
{
    // The state column is computed in SQL so that every reader uses the database clock.
    private const string ServiceSelect =
        "SELECT s.host, s.service, s.zone, s.disabled, s.disabled_reason, s.frozen, s.heartbeat_at, s.started_at, s.version, " +
        "  s.log_level, s.total_gib, s.free_gib, s.allocated_gib, s.backend_type, s.healthy, s.health_reason, s.modified_by, " +
        "  " + ServiceSql.Up + " AS up, " +
        // The scheduler's capacity ledger (migration 0008): live volumes placed on the host; a failed create holds no LV.
        "  coalesce((SELECT l.provisioned_gib FROM bs.capacity_ledger l WHERE l.host = s.host), 0) AS provisioned, s.metrics_url " +
        "FROM bs.services s";

    /// <summary>
    /// Registers (or re-registers) a host's service and marks it started now, with where it serves
    /// its metrics (null: it serves none, and a URL from an earlier run is cleared).
    /// </summary>
    public Task RegisterAsync(string host, string service, string zone, string version, CancellationToken ct = default) =>
        RegisterAsync(host, service, zone, version, null, ct);

    /// <inheritdoc cref="RegisterAsync(string, string, string, string, CancellationToken)"/>
    public Task RegisterAsync(string host, string service, string zone, string version, string? metricsUrl, CancellationToken ct) =>
        store.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand(
                "INSERT INTO bs.services (host, service, zone, version, started_at, heartbeat_at, metrics_url) VALUES (@h, @s, @z, @v, now(), now(), @m) " +
                "ON CONFLICT (host, service) DO UPDATE SET zone = EXCLUDED.zone, version = EXCLUDED.version, " +
                "  started_at = now(), heartbeat_at = now(), metrics_url = EXCLUDED.metrics_url", conn);
            cmd.Parameters.AddWithValue("h", host);
            cmd.Parameters.AddWithValue("s", service);
            cmd.Parameters.AddWithValue("z", zone);
            cmd.Parameters.AddWithValue("v", version);
            cmd.Parameters.AddWithValue("m", (object?)metricsUrl ?? DBNull.Value);
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            await Events.AddAsync(conn, null, null, host, service, "service-started", $"{service} service on {host} started (version {version})", ct).ConfigureAwait(false);
            return 0;
        }, ct);

    /// <summary>A heartbeat; volume services send their capacity with it.</summary>
    public Task HeartbeatAsync(string host, string service, CapacityReport? capacity, CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand { Connection = conn };
            cmd.Parameters.AddWithValue("h", host);
            cmd.Parameters.AddWithValue("s", service);
            if (capacity is null)
            {
                cmd.CommandText = "UPDATE bs.services SET heartbeat_at = now() WHERE host = @h AND service = @s";
            }
            else
            {
                cmd.CommandText =
                    "UPDATE bs.services SET heartbeat_at = now(), backend_type = @bt, total_gib = @t, free_gib = @f, allocated_gib = @a, " +
                    "  healthy = @ok, health_reason = @why, reserved_percentage = @rp, max_over_subscription_ratio = @ratio " +
                    "WHERE host = @h AND service = @s";
                cmd.Parameters.AddWithValue("bt", capacity.BackendType);
                cmd.Parameters.AddWithValue("t", capacity.TotalGiB);
                cmd.Parameters.AddWithValue("f", capacity.FreeGiB);
                cmd.Parameters.AddWithValue("a", capacity.AllocatedGiB);
                cmd.Parameters.AddWithValue("ok", capacity.Healthy);
                cmd.Parameters.AddWithValue("why", (object?)capacity.HealthReason ?? DBNull.Value);
                cmd.Parameters.AddWithValue("rp", capacity.ReservedPercentage);
                cmd.Parameters.AddWithValue("ratio", capacity.MaxOverSubscriptionRatio);
            }

            return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, ct);

    public Task<List<BlockVolumeService>> ListAsync(IReadOnlyList<string>? hostPatterns, string? service, CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand { Connection = conn };
            var where = new List<string>();
            if (hostPatterns is { Count: > 0 })
            {
                where.Add("s.host ILIKE ANY(@hosts)");
                cmd.Parameters.AddWithValue("hosts", hostPatterns.Select(WildcardTranslator.ToLike).ToArray());
            }

            if (service is not null)
            {
                where.Add("s.service = @svc");
                cmd.Parameters.AddWithValue("svc", service);
            }

            cmd.CommandText = ServiceSelect + (where.Count > 0 ? " WHERE " + string.Join(" AND ", where) : "") + " ORDER BY s.service, s.host";
            return await ReadServicesAsync(cmd, ct).ConfigureAwait(false);
        }, ct);

    /// <summary>
    /// Applies an operator's change to one service. Returns the updated service, or null when no
    /// such (host, service) exists. Records who asked and why as an event, and notifies the host.
    /// </summary>
    public Task<BlockVolumeService?> ChangeAsync(string host, string service, ServiceChange change, string? reason, CancellationToken ct = default)
    {
        ServiceRules.CheckChange(service, change, reason);
        var set = change switch
        {
            // Enabling clears the reason: a stale reason on an enabled service misleads (Cinder keeps it).
            ServiceChange.Enable => "disabled = false, disabled_reason = NULL",
            ServiceChange.Disable => "disabled = true, disabled_reason = @reason",
            ServiceChange.Freeze => "frozen = true",
            ServiceChange.Thaw => "frozen = false",
            _ => throw new ArgumentOutOfRangeException(nameof(change)),
        };

        return store.RunAsync(async conn =>
        {
            await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
            await using (var cmd = new NpgsqlCommand(
                $"UPDATE bs.services SET {set}, modified_at = now(), modified_by = current_user WHERE host = @h AND service = @s", conn, tx))
            {
                cmd.Parameters.AddWithValue("h", host);
                cmd.Parameters.AddWithValue("s", service);
                cmd.Parameters.AddWithValue("reason", (object?)reason ?? DBNull.Value);
                if (await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 0)
                {
                    return null;
                }
            }

            await Events.AddAsync(conn, tx, null, host, service, "service-" + change.ToString().ToLowerInvariant(),
                ServiceRules.Describe(host, service, change, reason), ct).ConfigureAwait(false);
            await Events.NotifyAsync(conn, tx, Channels.Control, $"{host}/{service}", ct).ConfigureAwait(false);
            // Thawing or enabling may release queued work: wake the scheduler and the host's agent.
            await Events.NotifyAsync(conn, tx, Channels.Schedule, "0", ct).ConfigureAwait(false);
            await Events.NotifyAsync(conn, tx, Channels.Agent, host, ct).ConfigureAwait(false);
            var result = await GetOneAsync(conn, tx, host, service, ct).ConfigureAwait(false);
            await tx.CommitAsync(ct).ConfigureAwait(false);
            return result;
        }, ct);
    }

    public Task<BlockVolumeService?> SetLogLevelAsync(string host, string service, string level, CancellationToken ct = default)
    {
        level = Validation.LogLevel(level);
        return store.RunAsync(async conn =>
        {
            await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
            await using (var cmd = new NpgsqlCommand(
                "UPDATE bs.services SET log_level = @l, modified_at = now(), modified_by = current_user WHERE host = @h AND service = @s", conn, tx))
            {
                cmd.Parameters.AddWithValue("h", host);
                cmd.Parameters.AddWithValue("s", service);
                cmd.Parameters.AddWithValue("l", level);
                if (await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 0)
                {
                    return null;
                }
            }

            await Events.AddAsync(conn, tx, null, host, service, "service-log-level", $"{service} service on {host} log level set to {level}", ct).ConfigureAwait(false);
            await Events.NotifyAsync(conn, tx, Channels.Control, $"{host}/{service}", ct).ConfigureAwait(false);
            var result = await GetOneAsync(conn, tx, host, service, ct).ConfigureAwait(false);
            await tx.CommitAsync(ct).ConfigureAwait(false);
            return result;
        }, ct);
    }

    public Task<BlockVolumeService?> GetAsync(string host, string service, CancellationToken ct = default) =>
        store.RunAsync(conn => GetOneAsync(conn, null, host, service, ct), ct);

    /// <summary>Host names for tab completion: cheap, indexed, bounded.</summary>
    public Task<List<string>> HostNamesAsync(string prefix, CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand(
                "SELECT DISTINCT host FROM bs.services WHERE host LIKE @p ORDER BY host LIMIT 100", conn);
            cmd.Parameters.AddWithValue("p", WildcardTranslator.ToLike(prefix) + "%");
            return await Rows.ListAsync(cmd, r => r.GetString(0), ct).ConfigureAwait(false);
        }, ct);

    /// <summary>
    /// The schedulers that are up and enabled, by name: which of them answers a request first
    /// (Core's FirstResponder). Read by each scheduler between its passes.
    /// </summary>
    public Task<List<string>> RunningSchedulersAsync(CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand(
                "SELECT s.host FROM bs.services s WHERE s.service = 'scheduler' AND NOT s.disabled AND " + ServiceSql.Up + " ORDER BY s.host", conn);
            return await Rows.ListAsync(cmd, r => r.GetString(0), ct).ConfigureAwait(false);
        }, ct);

    /// <summary>A boolean expression: is an enabled scheduler up (requests are refused without one).</summary>
    internal const string SchedulerAvailableSql =
        "SELECT EXISTS (SELECT 1 FROM bs.services s WHERE s.service = 'scheduler' AND NOT s.disabled AND " + ServiceSql.Up + ")";

    private static async Task<BlockVolumeService?> GetOneAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string host, string service, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(ServiceSelect + " WHERE s.host = @h AND s.service = @s", conn, tx);
        cmd.Parameters.AddWithValue("h", host);
        cmd.Parameters.AddWithValue("s", service);
        var list = await ReadServicesAsync(cmd, ct).ConfigureAwait(false);
        return list.FirstOrDefault();
    }

    private static Task<List<BlockVolumeService>> ReadServicesAsync(NpgsqlCommand cmd, CancellationToken ct) =>
        Rows.ListAsync(cmd, r => new BlockVolumeService
        {
            Host = r.GetString(0),
            Service = r.GetString(1),
            Zone = r.GetString(2),
            Status = r.GetBoolean(3) ? "disabled" : "enabled",
            DisabledReason = r.StringOrNull(4),
            Frozen = r.GetBoolean(5),
            UpdatedAt = r.DateTimeOrNull(6),
            StartedAt = r.DateTimeOrNull(7),
            Version = r.StringOrNull(8),
            LogLevel = r.GetString(9),
            CapacityGiB = r.DecimalOrNull(10),
            FreeGiB = r.DecimalOrNull(11),
            AllocatedGiB = r.DecimalOrNull(12),
            BackendType = r.StringOrNull(13),
            Healthy = r.GetBoolean(14),
            HealthReason = r.StringOrNull(15),
            ModifiedBy = r.StringOrNull(16),
            State = r.GetBoolean(17) ? "up" : "down",
            // Only volume services hold volumes; a scheduler has no provisioned figure.
            ProvisionedGiB = r.GetString(1) == ServiceType.Volume ? Convert.ToDecimal(r.GetValue(18), System.Globalization.CultureInfo.InvariantCulture) : null,
            MetricsUrl = r.StringOrNull(19),
        }, ct);
}
