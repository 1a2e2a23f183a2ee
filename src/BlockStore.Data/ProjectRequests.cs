using BlockStore.Core;
using Npgsql;

namespace BlockStore.Data;

/// <summary>
/// Projects (issue 13): the owners of volumes and the unit quotas count in. A removed project keeps
/// its row, marked deleted, because its volumes' history names it; its name is not used again.
/// </summary>
public sealed class ProjectRequests(StoreConnection store)
{
    // Usage from the one definition (bs.quota_usage), so Get-BlockStoreProject and the quota check agree.
    private const string ProjectSelect =
        "SELECT p.name, p.description, coalesce(u.volumes, 0), coalesce(u.gigabytes, 0), p.created_at, p.created_by " +
        "FROM bs.projects p LEFT JOIN bs.quota_usage u ON u.project = p.name AND u.volume_type IS NULL " +
        "WHERE p.deleted_at IS NULL";

    public Task<BlockStoreProject> CreateAsync(string name, string? description, CancellationToken ct = default)
    {
        TenancyValidation.ProjectName(name);
        Validation.Description(description);
        return store.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand(
                "INSERT INTO bs.projects (name, description) VALUES (@n, @d) ON CONFLICT (name) DO NOTHING RETURNING name", conn);
            cmd.Parameters.AddWithValue("n", name);
            cmd.Parameters.AddWithValue("d", (object?)description ?? DBNull.Value);
            if (await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) is null)
            {
                throw new BlockStoreException(ErrorIds.ProjectNameInUse, ErrorKind.ResourceExists,
                    $"A project named '{name}' exists, or existed and was removed (a removed project's name stays with its history).", name);
            }

            return (await GetAsync(conn, name, ct).ConfigureAwait(false))!;
        }, ct);
    }

    public Task<List<BlockStoreProject>> ListAsync(IReadOnlyList<string>? namePatterns, CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand { Connection = conn };
            cmd.CommandText = ProjectSelect;
            if (namePatterns is { Count: > 0 })
            {
                cmd.CommandText += " AND p.name ~* ANY(@patterns)";
                cmd.Parameters.AddWithValue("patterns", namePatterns.Select(WildcardTranslator.ToRegex).ToArray());
            }

            cmd.CommandText += " ORDER BY p.name";
            return await Rows.ListAsync(cmd, Read, ct).ConfigureAwait(false);
        }, ct);

    /// <summary>
    /// Removes a project that owns nothing: no volume (of any status but deleted) and so no snapshot
    /// or attachment. Its own quota limits and its tenant login go with it. The project's row is locked first, as every
    /// quota-checked request of the project locks it, so no volume can appear between the check
    /// and the removal. The default project cannot be removed.
    /// </summary>
    public Task<BlockStoreProject> RemoveAsync(string name, CancellationToken ct = default)
    {
        TenancyValidation.ProjectName(name);
        return store.RunAsync(async conn =>
        {
            await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
            await using (var lockRow = new NpgsqlCommand("SELECT 1 FROM bs.projects WHERE name = @n AND deleted_at IS NULL FOR UPDATE", conn, tx))
            {
                lockRow.Parameters.AddWithValue("n", name);
                if (await lockRow.ExecuteScalarAsync(ct).ConfigureAwait(false) is null)
                {
                    throw NotFound(name);
                }
            }

            var project = (await GetAsync(conn, name, ct, tx).ConfigureAwait(false))!;
            if (name == TenancyValidation.DefaultProject)
            {
                throw new BlockStoreException(ErrorIds.ProjectNotEmpty, ErrorKind.InvalidOperation,
                    "The default project cannot be removed: volumes requested without -Project go there.", project);
            }

            await using (var owned = new NpgsqlCommand(
                "SELECT count(*) FROM bs.volumes v WHERE v.project = @n AND v.status <> 'deleted'", conn, tx))
            {
                owned.Parameters.AddWithValue("n", name);
                var volumes = (long)(await owned.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
                if (volumes > 0)
                {
                    throw new BlockStoreException(ErrorIds.ProjectNotEmpty, ErrorKind.InvalidOperation,
                        $"Project '{name}' still owns {volumes} volume(s): remove them first (Get-BlockVolume -Project {name} | Remove-BlockVolume -Cascade). Nothing was changed.", project);
                }
            }

            // Its tenant login goes too (its role is dropped, its sessions end): a login to a removed
            // project could do nothing but would still be a way in.
            await using (var cmd = new NpgsqlCommand(
                "SELECT bs.unregister_tenant(@n); DELETE FROM bs.quotas WHERE project = @n; UPDATE bs.projects SET deleted_at = now() WHERE name = @n", conn, tx))
            {
                cmd.Parameters.AddWithValue("n", name);
                await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            await tx.CommitAsync(ct).ConfigureAwait(false);
            return project;
        }, ct);
    }

    internal static BlockStoreException NotFound(string name) =>
        new(ErrorIds.ProjectNotFound, ErrorKind.ObjectNotFound, $"No project named '{name}'. See Get-BlockStoreProject.", name);

    internal static async Task<BlockStoreProject?> GetAsync(NpgsqlConnection conn, string name, CancellationToken ct, NpgsqlTransaction? tx = null)
    {
        await using var cmd = new NpgsqlCommand(ProjectSelect + " AND p.name = @n", conn, tx);
        cmd.Parameters.AddWithValue("n", name);
        return await Rows.FirstOrDefaultAsync(cmd, Read, ct).ConfigureAwait(false);
    }

    private static BlockStoreProject Read(NpgsqlDataReader r) => new()
    {
        Name = r.GetString(0),
        Description = r.StringOrNull(1),
        Volumes = r.GetInt64(2),
        Gigabytes = r.GetInt64(3),
        CreatedAt = r.GetDateTime(4),
        CreatedBy = r.GetString(5),
    };
}
