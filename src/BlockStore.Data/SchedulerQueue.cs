using BlockStore.Core;
using Npgsql;

namespace BlockStore.Data;

/// <summary>One placement decision, for logs and benchmarks.</summary>
public sealed record PlacementOutcome(long OperationId, Guid VolumeId, string? Host, string Reason);

/// <summary>
/// The scheduler's side of the queue. A pass claims a batch of pending create operations with
/// FOR UPDATE SKIP LOCKED (concurrent schedulers never take the same row), locks the volume
/// service rows (so concurrent schedulers serialise on the capacity ledger and a burst cannot
/// overcommit a host), places each with the pure PlacementPolicy, and commits host assignment
/// and capacity consumption together.
/// </summary>
public sealed class SchedulerQueue(StoreConnection store)
{
    public Task<bool> IsEnabledAsync(string schedulerHost, CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand(
                "SELECT NOT disabled FROM bs.services WHERE host = @h AND service = 'scheduler'", conn);
            cmd.Parameters.AddWithValue("h", schedulerHost);
            return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) is true;
        }, ct);

    /// <summary>Places up to <paramref name="batchSize"/> pending operations; returns what it decided.</summary>
    public Task<List<PlacementOutcome>> PlaceBatchAsync(string schedulerHost, int batchSize, CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            var outcomes = new List<PlacementOutcome>();
            await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);

            // Holding our own service row FOR SHARE makes a disable wait for this batch, and
            // this batch see a disable that committed first: once Disable-BlockVolumeService
            // returns, this scheduler places nothing more, even in the middle of draining a backlog.
            await using (var enabled = new NpgsqlCommand(
                "SELECT NOT disabled FROM bs.services WHERE host = @h AND service = 'scheduler' FOR SHARE", conn, tx))
            {
                enabled.Parameters.AddWithValue("h", schedulerHost);
                if (await enabled.ExecuteScalarAsync(ct).ConfigureAwait(false) is not true)
                {
                    await tx.CommitAsync(ct).ConfigureAwait(false);
                    return outcomes;
                }
            }

            var work = new List<(long OpId, Guid VolumeId, int Size, string? Zone)>();
            await using (var cmd = new NpgsqlCommand(
                "SELECT o.id, o.volume_id, v.size_gib, v.zone FROM bs.operations o JOIN bs.volumes v ON v.id = o.volume_id " +
                "WHERE o.stage = 'pending' ORDER BY o.id LIMIT @n FOR UPDATE OF o SKIP LOCKED", conn, tx))
            {
                cmd.Parameters.AddWithValue("n", batchSize);
                await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await r.ReadAsync(ct).ConfigureAwait(false))
                {
                    work.Add((r.GetInt64(0), r.GetGuid(1), r.GetInt32(2), r.IsDBNull(3) ? null : r.GetString(3)));
                }
            }

            if (work.Count == 0)
            {
                await tx.CommitAsync(ct).ConfigureAwait(false);
                return outcomes;
            }

            var hosts = await LockCandidatesAsync(conn, tx, ct).ConfigureAwait(false);
            foreach (var (opId, volumeId, size, zone) in work)
            {
                var result = PlacementPolicy.Place(size, zone, hosts.Values);
                if (result.Placed)
                {
                    var host = hosts[result.Host!];
                    // Consume capacity in the in-memory copy too, so the rest of this batch sees it.
                    hosts[host.Host] = host with { ProvisionedGiB = host.ProvisionedGiB + size };
                    await AssignAsync(conn, tx, opId, volumeId, host.Host, host.Zone, ct).ConfigureAwait(false);
                    await Events.AddAsync(conn, tx, volumeId, host.Host, "scheduler",
                        "scheduled", $"placed on {host.Host} by {schedulerHost} ({decimal.Round(result.HostFreeGiB ?? 0, 1)} GiB free before)", ct).ConfigureAwait(false);
                    outcomes.Add(new PlacementOutcome(opId, volumeId, host.Host, "placed"));
                }
                else
                {
                    var reason = result.Explain(size, zone);
                    await FailAsync(conn, tx, opId, volumeId, reason, ct).ConfigureAwait(false);
                    await Events.AddAsync(conn, tx, volumeId, null, "scheduler", "error", reason, ct).ConfigureAwait(false);
                    await Events.NotifyAsync(conn, tx, Channels.VolumeStatus, volumeId.ToString(), ct).ConfigureAwait(false);
                    outcomes.Add(new PlacementOutcome(opId, volumeId, null, reason));
                }
            }

            foreach (var host in outcomes.Where(o => o.Host is not null).Select(o => o.Host!).Distinct())
            {
                await Events.NotifyAsync(conn, tx, Channels.Agent, host, ct).ConfigureAwait(false);
            }

            await tx.CommitAsync(ct).ConfigureAwait(false);
            return outcomes;
        }, ct);

    private static async Task<Dictionary<string, HostCandidate>> LockCandidatesAsync(NpgsqlConnection conn, NpgsqlTransaction tx, CancellationToken ct)
    {
        // Locking every volume service row in id order is deadlock-free and makes the ledger
        // read + assignment atomic across schedulers. Placement is cheap, so the wait is short.
        var hosts = new Dictionary<string, HostCandidate>(StringComparer.Ordinal);
        await using (var cmd = new NpgsqlCommand(
            "SELECT s.host, s.zone, s.disabled, s.disabled_reason, s.frozen, s.healthy, s.health_reason, " +
            "  coalesce(s.backend_type, 'thick'), coalesce(s.total_gib, 0), coalesce(s.free_gib, 0), s.reserved_percentage, s.max_over_subscription_ratio, " +
            "  " + ServiceSql.Up + " AS up, s.allocated_gib " +
            "FROM bs.services s WHERE s.service = 'volume' ORDER BY s.id FOR UPDATE OF s", conn, tx))
        {
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                var candidate = new HostCandidate
                {
                    Host = r.GetString(0),
                    Zone = r.GetString(1),
                    Enabled = !r.GetBoolean(2),
                    DisabledReason = r.IsDBNull(3) ? null : r.GetString(3),
                    Frozen = r.GetBoolean(4),
                    Healthy = r.GetBoolean(5),
                    HealthReason = r.IsDBNull(6) ? null : r.GetString(6),
                    BackendType = r.GetString(7),
                    TotalGiB = r.GetDecimal(8),
                    ReportedFreeGiB = r.GetDecimal(9),
                    ReservedPercentage = r.GetInt32(10),
                    MaxOverSubscriptionRatio = r.GetDecimal(11),
                    Up = r.GetBoolean(12),
                    ReportedAllocatedGiB = r.IsDBNull(13) ? null : r.GetDecimal(13),
                };
                hosts[candidate.Host] = candidate;
            }
        }

        // The ledger is read by a second statement, after the locks are held. In READ COMMITTED a
        // statement sees the data committed when it started: a sum computed inside the locking
        // statement above would miss what a concurrent scheduler committed while we waited for
        // its locks, and two schedulers could then fill the same free space twice.
        await using (var cmd = new NpgsqlCommand(
            "SELECT v.host, sum(v.size_gib) FROM bs.volumes v " +
            "WHERE v.host IS NOT NULL AND v.status NOT IN ('deleted', 'error') GROUP BY v.host", conn, tx))
        {
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                var host = r.GetString(0);
                if (hosts.TryGetValue(host, out var candidate))
                {
                    hosts[host] = candidate with { ProvisionedGiB = Convert.ToDecimal(r.GetValue(1), System.Globalization.CultureInfo.InvariantCulture) };
                }
            }
        }

        return hosts;
    }

    private static async Task AssignAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long opId, Guid volumeId, string host, string zone, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "UPDATE bs.operations SET stage = 'scheduled', host = @h, updated_at = now() WHERE id = @op; " +
            "UPDATE bs.volumes SET host = @h, zone = coalesce(zone, @z), updated_at = now() WHERE id = @v", conn, tx);
        cmd.Parameters.AddWithValue("op", opId);
        cmd.Parameters.AddWithValue("v", volumeId);
        cmd.Parameters.AddWithValue("h", host);
        cmd.Parameters.AddWithValue("z", zone);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static async Task FailAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long opId, Guid volumeId, string reason, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "UPDATE bs.operations SET stage = 'failed', error = @r, finished_at = now(), updated_at = now() WHERE id = @op; " +
            "UPDATE bs.volumes SET status = 'error', status_reason = @r, updated_at = now() WHERE id = @v AND status = 'creating'", conn, tx);
        cmd.Parameters.AddWithValue("op", opId);
        cmd.Parameters.AddWithValue("v", volumeId);
        cmd.Parameters.AddWithValue("r", reason);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }
}
