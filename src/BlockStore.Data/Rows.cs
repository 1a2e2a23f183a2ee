using Npgsql;

namespace BlockStore.Data;

/// <summary>
/// Reading result rows, the one way every query here does it: run the command, map each row with
/// the caller's mapper, and read nullable columns without the IsDBNull dance at every column.
/// </summary>
internal static class Rows
{
    /// <summary>Every row of the command's result, mapped.</summary>
    public static async Task<List<T>> ListAsync<T>(NpgsqlCommand cmd, Func<NpgsqlDataReader, T> map, CancellationToken ct)
    {
        var list = new List<T>();
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            list.Add(map(reader));
        }

        return list;
    }

    /// <summary>The first row mapped, or null when there is none.</summary>
    public static async Task<T?> FirstOrDefaultAsync<T>(NpgsqlCommand cmd, Func<NpgsqlDataReader, T> map, CancellationToken ct)
        where T : class
    {
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false) ? map(reader) : null;
    }

    /// <summary>The row of <paramref name="sql"/> (which selects by @id) for <paramref name="id"/>, mapped, or null.</summary>
    public static async Task<T?> ByIdAsync<T>(NpgsqlConnection conn, NpgsqlTransaction? tx, string sql, Guid id, Func<NpgsqlDataReader, T> map, CancellationToken ct)
        where T : class
    {
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        cmd.Parameters.AddWithValue("id", id);
        return await FirstOrDefaultAsync(cmd, map, ct).ConfigureAwait(false);
    }

    public static string? StringOrNull(this NpgsqlDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    public static int? Int32OrNull(this NpgsqlDataReader r, int i) => r.IsDBNull(i) ? null : r.GetInt32(i);

    public static decimal? DecimalOrNull(this NpgsqlDataReader r, int i) => r.IsDBNull(i) ? null : r.GetDecimal(i);

    public static DateTime? DateTimeOrNull(this NpgsqlDataReader r, int i) => r.IsDBNull(i) ? null : r.GetDateTime(i);

    public static Guid? GuidOrNull(this NpgsqlDataReader r, int i) => r.IsDBNull(i) ? null : r.GetGuid(i);
}
