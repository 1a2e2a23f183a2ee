using System.Text.Json;
using BlockStore.Core;
using Npgsql;
using NpgsqlTypes;

namespace BlockStore.Data;

/// <summary>
/// Volume types (issue 13): a name users ask for and the extra specs the scheduler matches against
/// what each host reports. Exactly one type is the default (volumes requested without a type).
/// </summary>
public sealed class VolumeTypeRequests(StoreConnection store)
{
    private const string TypeSelect =
        "SELECT t.name, t.description, t.extra_specs::text, t.is_default, t.created_at, t.updated_at FROM bs.volume_types t";

    public Task<BlockVolumeType> CreateAsync(string name, string? description, IReadOnlyDictionary<string, string> extraSpecs, bool makeDefault, CancellationToken ct = default)
    {
        TenancyValidation.VolumeTypeName(name);
        Validation.Description(description);
        var specs = TenancyValidation.ExtraSpecs(extraSpecs.Select(kv => new KeyValuePair<string, string?>(kv.Key, kv.Value)));
        return store.RunAsync(async conn =>
        {
            await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
            if (makeDefault)
            {
                await ClearDefaultAsync(conn, tx, ct).ConfigureAwait(false);
            }

            await using (var cmd = new NpgsqlCommand(
                "INSERT INTO bs.volume_types (name, description, extra_specs, is_default) VALUES (@n, @d, @s, @def) ON CONFLICT (name) DO NOTHING RETURNING name", conn, tx))
            {
                cmd.Parameters.AddWithValue("n", name);
                cmd.Parameters.AddWithValue("d", (object?)description ?? DBNull.Value);
                cmd.Parameters.AddWithValue("s", NpgsqlDbType.Jsonb, JsonSerializer.Serialize(specs, DataJson.Default.IReadOnlyDictionaryStringString));
                cmd.Parameters.AddWithValue("def", makeDefault);
                if (await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) is null)
                {
                    throw new BlockStoreException(ErrorIds.VolumeTypeNameInUse, ErrorKind.ResourceExists, $"A volume type named '{name}' already exists.", name);
                }
            }

            var created = (await GetAsync(conn, tx, name, ct).ConfigureAwait(false))!;
            await tx.CommitAsync(ct).ConfigureAwait(false);
            return created;
        }, ct);
    }

    public Task<List<BlockVolumeType>> ListAsync(IReadOnlyList<string>? namePatterns, CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand { Connection = conn, CommandText = TypeSelect };
            if (namePatterns is { Count: > 0 })
            {
                cmd.CommandText += " WHERE t.name ~* ANY(@patterns)";
                cmd.Parameters.AddWithValue("patterns", namePatterns.Select(WildcardTranslator.ToRegex).ToArray());
            }

            cmd.CommandText += " ORDER BY t.name";
            return await Rows.ListAsync(cmd, Read, ct).ConfigureAwait(false);
        }, ct);

    /// <summary>
    /// Changes a type: its description, extra specs merged in (a null value removes that key), or
    /// makes it the default. Volumes already made keep their host; new ones are placed by the new specs.
    /// </summary>
    public Task<BlockVolumeType> UpdateAsync(string name, string? description, IReadOnlyDictionary<string, string?>? extraSpecs, bool makeDefault, CancellationToken ct = default)
    {
        TenancyValidation.VolumeTypeName(name);
        Validation.Description(description);
        var set = extraSpecs is null ? null : TenancyValidation.ExtraSpecs(extraSpecs.Where(kv => kv.Value is not null));
        var removed = extraSpecs?.Where(kv => kv.Value is null).Select(kv => kv.Key).ToArray() ?? [];
        return store.RunAsync(async conn =>
        {
            await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
            if (makeDefault)
            {
                await ClearDefaultAsync(conn, tx, ct).ConfigureAwait(false);
            }

            await using (var cmd = new NpgsqlCommand(
                "UPDATE bs.volume_types SET description = coalesce(@d, description), " +
                "  extra_specs = (extra_specs || coalesce(@s, '{}'::jsonb)) - @removed, " +
                "  is_default = is_default OR @def, updated_at = now() WHERE name = @n", conn, tx))
            {
                cmd.Parameters.AddWithValue("n", name);
                cmd.Parameters.AddWithValue("d", NpgsqlDbType.Text, (object?)description ?? DBNull.Value);
                cmd.Parameters.AddWithValue("s", NpgsqlDbType.Jsonb, set is null ? DBNull.Value : JsonSerializer.Serialize(set, DataJson.Default.IReadOnlyDictionaryStringString));
                cmd.Parameters.AddWithValue("removed", removed);
                cmd.Parameters.AddWithValue("def", makeDefault);
                if (await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 0)
                {
                    throw NotFound(name);
                }
            }

            var changed = (await GetAsync(conn, tx, name, ct).ConfigureAwait(false))!;
            await tx.CommitAsync(ct).ConfigureAwait(false);
            return changed;
        }, ct);
    }

    /// <summary>
    /// Removes a type that no volume uses (deleted ones aside) and that is not the default. The
    /// type's row is locked first: a request naming it waits (its foreign key check) and then finds
    /// it gone (VolumeTypeNotFound), or committed first and is counted here.
    /// </summary>
    public Task<BlockVolumeType> RemoveAsync(string name, CancellationToken ct = default)
    {
        TenancyValidation.VolumeTypeName(name);
        return store.RunAsync(async conn =>
        {
            await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
            var type = await GetAsync(conn, tx, name, ct, forUpdate: true).ConfigureAwait(false) ?? throw NotFound(name);
            if (type.IsDefault)
            {
                throw new BlockStoreException(ErrorIds.VolumeTypeInUse, ErrorKind.InvalidOperation,
                    $"Volume type '{name}' is the default type: make another type the default first (Set-BlockVolumeType -Default).", type);
            }

            await using (var used = new NpgsqlCommand("SELECT count(*) FROM bs.volumes WHERE volume_type = @n AND status <> 'deleted'", conn, tx))
            {
                used.Parameters.AddWithValue("n", name);
                var count = (long)(await used.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
                if (count > 0)
                {
                    throw new BlockStoreException(ErrorIds.VolumeTypeInUse, ErrorKind.InvalidOperation,
                        $"Volume type '{name}' is used by {count} volume(s) (Get-BlockVolume -VolumeType {name}). Nothing was removed.", type);
                }
            }

            // Deleted volumes let go of the type (their events still tell what they were), so the
            // name can be used again; per-type quota limits go with the type (ON DELETE CASCADE).
            await using (var cmd = new NpgsqlCommand(
                "UPDATE bs.volumes SET volume_type = NULL WHERE volume_type = @n AND status = 'deleted'; " +
                "DELETE FROM bs.volume_types WHERE name = @n", conn, tx))
            {
                cmd.Parameters.AddWithValue("n", name);
                await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            await tx.CommitAsync(ct).ConfigureAwait(false);
            return type;
        }, ct);
    }

    internal static BlockStoreException NotFound(string? name) =>
        new(ErrorIds.VolumeTypeNotFound, ErrorKind.ObjectNotFound, $"No volume type named '{name}'. See Get-BlockVolumeType.", name);

    private static async Task ClearDefaultAsync(NpgsqlConnection conn, NpgsqlTransaction tx, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("UPDATE bs.volume_types SET is_default = false, updated_at = now() WHERE is_default", conn, tx);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static async Task<BlockVolumeType?> GetAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string name, CancellationToken ct, bool forUpdate = false)
    {
        await using var cmd = new NpgsqlCommand(TypeSelect + " WHERE t.name = @n" + (forUpdate ? " FOR UPDATE" : ""), conn, tx);
        cmd.Parameters.AddWithValue("n", name);
        return await Rows.FirstOrDefaultAsync(cmd, Read, ct).ConfigureAwait(false);
    }

    private static BlockVolumeType Read(NpgsqlDataReader r) => new()
    {
        Name = r.GetString(0),
        Description = r.StringOrNull(1),
        ExtraSpecs = ParseSpecs(r.GetString(2)),
        IsDefault = r.GetBoolean(3),
        CreatedAt = r.GetDateTime(4),
        UpdatedAt = r.GetDateTime(5),
    };

    internal static IReadOnlyDictionary<string, string> ParseSpecs(string json) =>
        new SortedDictionary<string, string>(
            JsonSerializer.Deserialize(json, DataJson.Default.DictionaryStringJsonElement)!
                .ToDictionary(kv => kv.Key, kv => kv.Value.ValueKind == JsonValueKind.String ? kv.Value.GetString()! : kv.Value.ToString()),
            StringComparer.Ordinal);
}
