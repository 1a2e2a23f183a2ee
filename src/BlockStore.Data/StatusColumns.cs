using Npgsql;

namespace BlockStore.Data;

/// <summary>
/// The status columns volumes and snapshots share (status, status_reason, updated_at, deleted_at),
/// written the same way. Each table's transitions class checks its own state machine before
/// calling this, so what may move where stays visible per table.
/// </summary>
internal static class StatusColumns
{
    /// <summary><paramref name="table"/> is one of our constants (bs.volumes, bs.snapshots), never user text.</summary>
    public static async Task WriteAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string table, Guid id, string to, string? reason, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            $"UPDATE {table} SET status = @to, status_reason = @r, updated_at = now(), " +
            "deleted_at = CASE WHEN @to = 'deleted' THEN now() ELSE deleted_at END WHERE id = @id", conn, tx);
        cmd.Parameters.AddWithValue("id", id);
        cmd.Parameters.AddWithValue("to", to);
        cmd.Parameters.AddWithValue("r", (object?)reason ?? DBNull.Value);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }
}
