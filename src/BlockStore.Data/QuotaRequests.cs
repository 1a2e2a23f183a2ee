using BlockStore.Core;
using Npgsql;

namespace BlockStore.Data;

/// <summary>
/// Quotas (issue 13), Cinder's model: per project a limit for volumes, gigabytes and snapshots over
/// all volume types and per type, else the default limit, else none (-1). The database enforces
/// them (bs.quota_check, called by triggers in every request's transaction); this class reads and
/// sets the limits.
/// </summary>
public sealed class QuotaRequests(StoreConnection store)
{
    /// <summary>
    /// The quota lines of the projects named (null: every project), over all types and for every
    /// volume type, each with the limit that applies and where it comes from; with
    /// <paramref name="usage"/> also what is in use and what is left. <paramref name="defaults"/>
    /// lists the default limits instead (Project "(default)").
    /// </summary>
    public Task<List<BlockStoreQuota>> ListAsync(IReadOnlyList<string>? projects, bool usage, bool defaults = false, CancellationToken ct = default)
    {
        foreach (var p in projects ?? [])
        {
            TenancyValidation.ProjectName(p);
        }

        return store.RunAsync(async conn =>
        {
            if (projects is { Count: > 0 })
            {
                await using var known = new NpgsqlCommand("SELECT array_agg(name) FROM bs.projects WHERE deleted_at IS NULL AND name = ANY(@p)", conn);
                known.Parameters.AddWithValue("p", projects.ToArray());
                var found = await known.ExecuteScalarAsync(ct).ConfigureAwait(false) as string[] ?? [];
                if (projects.Except(found).FirstOrDefault() is { } missing)
                {
                    throw ProjectRequests.NotFound(missing);
                }
            }

            // One line per (project, type or all, resource). The limit: the project's own row, else
            // the default row. Types get a line when a limit applies to them or they are in use.
            await using var cmd = new NpgsqlCommand(
                "WITH p AS (SELECT name FROM bs.projects WHERE deleted_at IS NULL AND (@all OR name = ANY(@projects))), " +
                "t AS (SELECT NULL::text AS volume_type UNION ALL SELECT name FROM bs.volume_types), " +
                "r AS (SELECT unnest(ARRAY['volumes', 'gigabytes', 'snapshots']) AS resource), " +
                "lines AS (SELECT p.name AS project, t.volume_type, r.resource, own.hard_limit AS own_limit, def.hard_limit AS default_limit " +
                "  FROM p CROSS JOIN t CROSS JOIN r " +
                "  LEFT JOIN bs.quotas own ON own.project = p.name AND own.volume_type IS NOT DISTINCT FROM t.volume_type AND own.resource = r.resource " +
                "  LEFT JOIN bs.quotas def ON def.project IS NULL AND def.volume_type IS NOT DISTINCT FROM t.volume_type AND def.resource = r.resource) " +
                "SELECT l.project, l.volume_type, l.resource, coalesce(l.own_limit, l.default_limit, -1), " +
                "  CASE WHEN l.own_limit IS NOT NULL THEN 'project' ELSE 'default' END, " +
                "  CASE l.resource WHEN 'volumes' THEN coalesce(u.volumes, 0) WHEN 'gigabytes' THEN coalesce(u.gigabytes, 0) ELSE coalesce(u.snapshots, 0) END " +
                "FROM lines l LEFT JOIN bs.quota_usage u ON u.project = l.project AND u.volume_type IS NOT DISTINCT FROM l.volume_type " +
                "WHERE l.volume_type IS NULL OR coalesce(l.own_limit, l.default_limit, -1) >= 0 OR coalesce(u.volumes, 0) > 0 " +
                "ORDER BY l.project, l.volume_type NULLS FIRST, array_position(ARRAY['volumes', 'gigabytes', 'snapshots'], l.resource)", conn);
            cmd.Parameters.AddWithValue("all", projects is not { Count: > 0 });
            cmd.Parameters.AddWithValue("projects", projects?.ToArray() ?? []);
            if (defaults)
            {
                cmd.CommandText =
                    "SELECT '(default)', t.volume_type, r.resource, coalesce(q.hard_limit, -1), 'default', 0::bigint " +
                    "FROM (SELECT NULL::text AS volume_type UNION ALL SELECT name FROM bs.volume_types) t " +
                    "CROSS JOIN (SELECT unnest(ARRAY['volumes', 'gigabytes', 'snapshots']) AS resource) r " +
                    "LEFT JOIN bs.quotas q ON q.project IS NULL AND q.volume_type IS NOT DISTINCT FROM t.volume_type AND q.resource = r.resource " +
                    "WHERE t.volume_type IS NULL OR q.hard_limit IS NOT NULL " +
                    "ORDER BY t.volume_type NULLS FIRST, array_position(ARRAY['volumes', 'gigabytes', 'snapshots'], r.resource)";
            }

            return await Rows.ListAsync(cmd, r =>
            {
                var limit = r.GetInt64(3);
                var inUse = r.GetInt64(5);
                return new BlockStoreQuota
                {
                    Project = r.GetString(0),
                    VolumeType = r.StringOrNull(1),
                    Resource = r.GetString(2),
                    Limit = limit,
                    Source = r.GetString(4),
                    InUse = usage && !defaults ? inUse : null,
                    Free = usage && !defaults && limit >= 0 ? Math.Max(0, limit - inUse) : null,
                };
            }, ct).ConfigureAwait(false);
        }, ct);
    }

    /// <summary>
    /// Sets limits of a project (null: the defaults) for all types (<paramref name="volumeType"/>
    /// null) or one type. A limit below what is in use is allowed (Cinder allows it too): new
    /// requests are refused until usage falls under it. The project's row is locked, as the quota
    /// check locks it, so a request in flight is decided entirely before or after the change.
    /// </summary>
    public Task SetAsync(string? project, string? volumeType, IReadOnlyDictionary<string, long> limits, CancellationToken ct = default)
    {
        if (project is not null)
        {
            TenancyValidation.ProjectName(project);
        }

        if (volumeType is not null)
        {
            TenancyValidation.VolumeTypeName(volumeType);
        }

        foreach (var (resource, limit) in limits)
        {
            if (!QuotaResource.All.Contains(resource))
            {
                throw new BlockStoreException(ErrorIds.InvalidQuotaLimit, ErrorKind.InvalidArgument,
                    $"'{resource}' is not a quota resource: use {string.Join(", ", QuotaResource.All)}.", resource);
            }

            TenancyValidation.QuotaLimit(resource, limit);
        }

        return store.RunAsync(async conn =>
        {
            await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
            if (project is not null)
            {
                await using var lockRow = new NpgsqlCommand("SELECT 1 FROM bs.projects WHERE name = @n AND deleted_at IS NULL FOR UPDATE", conn, tx);
                lockRow.Parameters.AddWithValue("n", project);
                if (await lockRow.ExecuteScalarAsync(ct).ConfigureAwait(false) is null)
                {
                    throw ProjectRequests.NotFound(project);
                }
            }

            if (volumeType is not null)
            {
                await using var typeRow = new NpgsqlCommand("SELECT 1 FROM bs.volume_types WHERE name = @t", conn, tx);
                typeRow.Parameters.AddWithValue("t", volumeType);
                if (await typeRow.ExecuteScalarAsync(ct).ConfigureAwait(false) is null)
                {
                    throw VolumeTypeRequests.NotFound(volumeType);
                }
            }

            foreach (var (resource, limit) in limits)
            {
                await using var cmd = new NpgsqlCommand(
                    "INSERT INTO bs.quotas (project, volume_type, resource, hard_limit) VALUES (@p, @t, @r, @l) " +
                    "ON CONFLICT (project, volume_type, resource) DO UPDATE SET hard_limit = EXCLUDED.hard_limit, updated_at = now(), updated_by = current_user", conn, tx);
                cmd.Parameters.AddWithValue("p", NpgsqlTypes.NpgsqlDbType.Text, (object?)project ?? DBNull.Value);
                cmd.Parameters.AddWithValue("t", NpgsqlTypes.NpgsqlDbType.Text, (object?)volumeType ?? DBNull.Value);
                cmd.Parameters.AddWithValue("r", resource);
                cmd.Parameters.AddWithValue("l", limit);
                await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            await tx.CommitAsync(ct).ConfigureAwait(false);
            return true;
        }, ct);
    }
}
