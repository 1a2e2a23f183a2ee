using Npgsql;

namespace BlockStore.Data;

/// <summary>Writes to bs.events inside the caller's transaction, so an event exists exactly when its change does.</summary>
internal static class Events
{
    private const string AddSql = "INSERT INTO bs.events (volume_id, host, service, kind, message) VALUES (@v, @h, @s, @k, @m)";

    private const string NotifySql = "SELECT pg_notify(@c, @p)";

    public static async Task AddAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, Guid? volumeId, string? host,
        string? service, string kind, string message, CancellationToken ct = default)
    {
        await using var cmd = new NpgsqlCommand(AddSql, conn, tx);
        AddParameters(cmd.Parameters, volumeId, host, service, kind, message);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>The same insert as <see cref="AddAsync"/>, as one statement of the caller's batch (no round trip of its own).</summary>
    public static NpgsqlBatchCommand AddCommand(Guid? volumeId, string? host, string? service, string kind, string message)
    {
        var cmd = new NpgsqlBatchCommand(AddSql);
        AddParameters(cmd.Parameters, volumeId, host, service, kind, message);
        return cmd;
    }

    public static async Task NotifyAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string channel, string payload, CancellationToken ct = default)
    {
        await using var cmd = new NpgsqlCommand(NotifySql, conn, tx);
        NotifyParameters(cmd.Parameters, channel, payload);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>The same NOTIFY as <see cref="NotifyAsync"/>, as one statement of the caller's batch.</summary>
    public static NpgsqlBatchCommand NotifyCommand(string channel, string payload)
    {
        var cmd = new NpgsqlBatchCommand(NotifySql);
        NotifyParameters(cmd.Parameters, channel, payload);
        return cmd;
    }

    private static void AddParameters(NpgsqlParameterCollection p, Guid? volumeId, string? host, string? service, string kind, string message)
    {
        p.AddWithValue("v", (object?)volumeId ?? DBNull.Value);
        p.AddWithValue("h", (object?)host ?? DBNull.Value);
        p.AddWithValue("s", (object?)service ?? DBNull.Value);
        p.AddWithValue("k", kind);
        p.AddWithValue("m", message);
    }

    private static void NotifyParameters(NpgsqlParameterCollection p, string channel, string payload)
    {
        p.AddWithValue("c", channel);
        p.AddWithValue("p", payload);
    }
}
