using BlockStore.Core;
using Npgsql;

namespace BlockStore.Data;

/// <summary>
/// What a volume host can do, as its agent reports it in its service row (capabilities: a flag and
/// its reason, e.g. 'iscsi'/'iscsi_reason', 'snapshots'/'snapshots_reason'). Requests read them and
/// refuse at once, with the host's own reason, what the host could never run.
/// </summary>
internal static class HostCapabilities
{
    public static Task ReportAsync(StoreConnection store, string host, string capability, bool available, string? reason, CancellationToken ct) =>
        store.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand(
                "UPDATE bs.services SET capabilities = capabilities || jsonb_build_object(@key, @ok, @key || '_reason', @why::text) " +
                "WHERE host = @h AND service = 'volume'", conn);
            cmd.Parameters.AddWithValue("h", host);
            cmd.Parameters.AddWithValue("key", capability);
            cmd.Parameters.AddWithValue("ok", available);
            cmd.Parameters.AddWithValue("why", (object?)reason ?? DBNull.Value);
            return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, ct);

    /// <summary>
    /// Replaces the declared capabilities of a host (volume_backend_name and whatever its
    /// configuration names): the keys declared last time and no longer declared are dropped, the
    /// measured ones (ExtraSpecMatcher.MeasuredCapabilities) are kept as measured.
    /// </summary>
    public static Task ReportDeclaredAsync(StoreConnection store, string host, IReadOnlyDictionary<string, string> declared, CancellationToken ct) =>
        store.RunAsync(async conn =>
        {
            var kept = declared.Where(kv => !ExtraSpecMatcher.MeasuredCapabilities.Contains(kv.Key) && !kv.Key.EndsWith("_reason", StringComparison.Ordinal))
                .ToDictionary(kv => kv.Key, kv => kv.Value);
            await using var cmd = new NpgsqlCommand(
                "UPDATE bs.services SET capabilities = (capabilities - coalesce(ARRAY(SELECT jsonb_array_elements_text(capabilities -> 'declared')), '{}')) " +
                "  || @declared || jsonb_build_object('declared', (SELECT coalesce(jsonb_agg(k), '[]'::jsonb) FROM jsonb_object_keys(@declared) k)) " +
                "WHERE host = @h AND service = 'volume'", conn);
            cmd.Parameters.AddWithValue("h", host);
            cmd.Parameters.AddWithValue("declared", NpgsqlTypes.NpgsqlDbType.Jsonb, System.Text.Json.JsonSerializer.Serialize(kept, DataJson.Default.DictionaryStringString));
            return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, ct);

    /// <summary>The host's backend, and whether its agent has said it can snapshot (and why not), read in the caller's transaction.</summary>
    public static async Task<(string Backend, bool Supported, string? Why)> ReadSnapshotSupportAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string host, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "SELECT coalesce(backend_type, 'thick'), coalesce((capabilities->>'snapshots')::boolean, false), capabilities->>'snapshots_reason' " +
            "FROM bs.services WHERE host = @h AND service = 'volume'", conn, tx);
        cmd.Parameters.AddWithValue("h", host);
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await r.ReadAsync(ct).ConfigureAwait(false)
            ? (r.GetString(0), r.GetBoolean(1), r.StringOrNull(2))
            : ("thick", false, "it has no volume service");
    }

    /// <summary>
    /// Whether the host's agent has said it can block-copy one LV into another through their device
    /// nodes (capability 'block_copy': device-mapper present, LVM activation on), and why not; read in
    /// the caller's transaction. A host whose agent never said so cannot.
    /// </summary>
    public static async Task<(bool Supported, string? Why)> ReadBlockCopySupportAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string host, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "SELECT coalesce((capabilities->>'block_copy')::boolean, false), capabilities->>'block_copy_reason' " +
            "FROM bs.services WHERE host = @h AND service = 'volume'", conn, tx);
        cmd.Parameters.AddWithValue("h", host);
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await r.ReadAsync(ct).ConfigureAwait(false) ? (r.GetBoolean(0), r.StringOrNull(1)) : (false, "it has no volume service");
    }

    /// <summary>Whether the host's agent reports <paramref name="capability"/> as true (false when absent), read in the caller's transaction.</summary>
    public static async Task<bool> ReadFlagAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string host, string capability, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "SELECT coalesce((capabilities->>@key)::boolean, false) FROM bs.services WHERE host = @h AND service = 'volume'", conn, tx);
        cmd.Parameters.AddWithValue("h", host);
        cmd.Parameters.AddWithValue("key", capability);
        return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) is true;
    }
}
