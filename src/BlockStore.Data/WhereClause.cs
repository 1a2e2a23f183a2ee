using Npgsql;

namespace BlockStore.Data;

/// <summary>
/// The WHERE clause of a listing, built beside its command: conditions ANDed, every value a
/// parameter of that command (never text in the SQL).
/// </summary>
internal sealed class WhereClause(NpgsqlCommand cmd)
{
    private readonly List<string> _conditions = [];

    /// <summary>A condition without values, or one whose parameters the caller adds.</summary>
    public void Add(string condition) => _conditions.Add(condition);

    /// <summary>"<paramref name="column"/> = ANY(@<paramref name="parameter"/>)" when the filter has values; nothing when it has none.</summary>
    public void AnyOf<T>(string column, string parameter, IReadOnlyList<T>? values)
    {
        if (values is { Count: > 0 })
        {
            _conditions.Add($"{column} = ANY(@{parameter})");
            cmd.Parameters.AddWithValue(parameter, values.ToArray());
        }
    }

    /// <summary>" WHERE a AND b", or "" without conditions.</summary>
    public override string ToString() => _conditions.Count > 0 ? " WHERE " + string.Join(" AND ", _conditions) : "";
}
