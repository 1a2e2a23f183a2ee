using BlockStore.Data;
using Npgsql;

namespace BlockStore.Data.Tests;

/// <summary>
/// A fresh database per test class, migrated by the admin (schema owner), with a login role per
/// runtime group and two registered volume hosts. Roles are cluster-wide, so every name carries
/// a random tag, and everything is dropped at the end.
/// </summary>
public sealed class SecuredDatabase : IAsyncLifetime
{
    public const string EnvironmentVariable = "BLOCKSTORE_TEST_ADMIN_CONNECTION";

    private readonly string _tag = "t" + Guid.NewGuid().ToString("N")[..8];
    private readonly List<string> _roles = [];
    private string _adminCs = "";

    public string Database => "bs_" + _tag;

    /// <summary>The schema owner (superuser in the lab) connected to the test database.</summary>
    public string OwnerCs { get; private set; } = "";

    public string OperatorCs { get; private set; } = "";
    public string ReaderCs { get; private set; } = "";
    public string SchedulerCs { get; private set; } = "";
    public string Node1 => _tag + "-node1";
    public string Node2 => _tag + "-node2";
    public string Node1Cs { get; private set; } = "";
    public string Node2Cs { get; private set; } = "";
    public string Node1Role { get; private set; } = "";

    public async Task InitializeAsync()
    {
        _adminCs = Environment.GetEnvironmentVariable(EnvironmentVariable)
            ?? throw new InvalidOperationException($"{EnvironmentVariable} is not set (build.ps1 Test sets it to the lab's admin connection).");
        await ExecAsync(_adminCs, $"CREATE DATABASE {Database}");
        OwnerCs = new NpgsqlConnectionStringBuilder(_adminCs) { Database = Database }.ConnectionString;
        SchemaMigrator.Migrate(OwnerCs);

        OperatorCs = await NewLoginAsync("operator", "bs_operator");
        ReaderCs = await NewLoginAsync("reader", "bs_reader");
        SchedulerCs = await NewLoginAsync("scheduler", "bs_scheduler");

        // Hosts are onboarded the product's way: the operator calls bs.register_host.
        var hosts = new HostRegistry(new StoreConnection(OperatorCs));
        var n1 = await hosts.RegisterAsync(Node1);
        var n2 = await hosts.RegisterAsync(Node2);
        _roles.Add(n1.Role);
        _roles.Add(n2.Role);
        Node1Role = n1.Role;
        Node1Cs = RoleCs(n1.Role, n1.Password);
        Node2Cs = RoleCs(n2.Role, n2.Password);
    }

    /// <summary>
    /// Inserts (as the owner) a volume with one create operation: placed on <paramref name="host"/>
    /// and scheduled, or pending with no host when host is null. Returns the ids.
    /// </summary>
    public async Task<(Guid Volume, long Operation)> SeedVolumeAsync(string? host)
    {
        var id = Guid.NewGuid();
        await ExecAsync(OwnerCs,
            "INSERT INTO bs.volumes (id, name, size_gib, status, host, zone) VALUES (@id, @n, 1, 'creating', @h, 'nova')",
            ("id", id), ("n", "v-" + id.ToString("N")[..12]), ("h", (object?)host ?? DBNull.Value));
        await using var conn = new NpgsqlConnection(OwnerCs);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(
            "INSERT INTO bs.operations (volume_id, kind, stage, host) VALUES (@id, 'create', @s, @h) RETURNING id", conn);
        cmd.Parameters.AddWithValue("id", id);
        cmd.Parameters.AddWithValue("s", host is null ? "pending" : "scheduled");
        cmd.Parameters.AddWithValue("h", (object?)host ?? DBNull.Value);
        return (id, (long)(await cmd.ExecuteScalarAsync())!);
    }

    /// <summary>Service rows of both hosts and a scheduler, as their processes would register them.</summary>
    public Task SeedServicesAsync() =>
        ExecAsync(OwnerCs,
            "INSERT INTO bs.services (host, service, zone, heartbeat_at, total_gib, free_gib, backend_type) VALUES " +
            "(@n1, 'volume', 'nova', now(), 100, 100, 'thick'), (@n2, 'volume', 'nova', now(), 100, 100, 'thick'), (@s, 'scheduler', 'nova', now(), NULL, NULL, NULL) " +
            "ON CONFLICT DO NOTHING",
            ("n1", Node1), ("n2", Node2), ("s", _tag + "-scheduler"));

    public string SchedulerHost => _tag + "-scheduler";

    public async Task DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await ExecAsync(_adminCs, $"DROP DATABASE IF EXISTS {Database} WITH (FORCE)");
        foreach (var role in _roles)
        {
            await ExecAsync(_adminCs, $"DROP ROLE IF EXISTS \"{role}\"");
        }
    }

    public string RoleCs(string role, string password) =>
        new NpgsqlConnectionStringBuilder(_adminCs) { Database = Database, Username = role, Password = password, Pooling = false }.ConnectionString;

    /// <summary>A role of the test's own that tests may create (e.g. a host registered during a test) and that is dropped at the end.</summary>
    public void Track(string role) => _roles.Add(role);

    private async Task<string> NewLoginAsync(string name, string group)
    {
        var role = $"{_tag}_{name}";
        var password = Scram.NewPassword();
        await ExecAsync(_adminCs, $"CREATE ROLE {role} LOGIN PASSWORD '{password}' IN ROLE {group}");
        _roles.Add(role);
        return RoleCs(role, password);
    }

    public static async Task<int> ExecAsync(string cs, string sql, params (string Name, object Value)[] parameters)
    {
        await using var conn = new NpgsqlConnection(cs);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        foreach (var (n, v) in parameters)
        {
            cmd.Parameters.AddWithValue(n, v);
        }

        return await cmd.ExecuteNonQueryAsync();
    }

    public static async Task<List<string>> ColumnAsync(string cs, string sql)
    {
        await using var conn = new NpgsqlConnection(cs);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        var list = new List<string>();
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync())
        {
            list.Add(r.IsDBNull(0) ? "" : Convert.ToString(r.GetValue(0), System.Globalization.CultureInfo.InvariantCulture)!);
        }

        return list;
    }

    /// <summary>Asserts that the statement is refused with insufficient_privilege (42501).</summary>
    public static async Task<PostgresException> DeniedAsync(string cs, string sql)
    {
        var e = await Assert.ThrowsAsync<PostgresException>(() => ExecAsync(cs, sql));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, e.SqlState);
        return e;
    }
}
