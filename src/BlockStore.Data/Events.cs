using Npgsql;

namespace BlockStore.Data;

/// <summary>Writes to bs.events inside the caller's transaction, so an event exists exactly when its change does.</summary>
internal static class Events
{
    public static async Task AddAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, Guid? volumeId, string? host,
        string? service, string kind, string message, CancellationToken ct = default)
    {
        await using var cmd = new NpgsqlCommand(
            "INSERT INTO bs.events (volume_id, host, service, kind, message) VALUES (@v, @h, @s, @k, @m)", conn, tx);
        cmd.Parameters.AddWithValue("v", (object?)volumeId ?? DBNull.Value);
        cmd.Parameters.AddWithValue("h", (object?)host ?? DBNull.Value);
        cmd.Parameters.AddWithValue("s", (object?)service ?? DBNull.Value);
        cmd.Parameters.AddWithValue("k", kind);
        cmd.Parameters.AddWithValue("m", message);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    public static async Task NotifyAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string channel, string payload, CancellationToken ct = default)
    {
        await using var cmd = new NpgsqlCommand("SELECT pg_notify(@c, @p)", conn, tx);
        cmd.Parameters.AddWithValue("c", channel);
        cmd.Parameters.AddWithValue("p", payload);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }
}
