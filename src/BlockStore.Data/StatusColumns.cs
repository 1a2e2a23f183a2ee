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
        await using var cmd = new NpgsqlCommand(Sql(table), conn, tx);
        Fill(cmd.Parameters, id, to, reason);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>The same write as <see cref="WriteAsync"/>, as one statement of the caller's batch.</summary>
    public static NpgsqlBatchCommand WriteCommand(string table, Guid id, string to, string? reason)
    {
        var cmd = new NpgsqlBatchCommand(Sql(table));
        Fill(cmd.Parameters, id, to, reason);
        return cmd;
    }

    private static string Sql(string table) =>
        $"UPDATE {table} SET status = @to, status_reason = @r, updated_at = now(), " +
        "deleted_at = CASE WHEN @to = 'deleted' THEN now() ELSE deleted_at END WHERE id = @id";

    private static void Fill(NpgsqlParameterCollection p, Guid id, string to, string? reason)
    {
        p.AddWithValue("id", id);
        p.AddWithValue("to", to);
        p.AddWithValue("r", (object?)reason ?? DBNull.Value);
    }
}
