using BlockStore.Core;
using BlockStore.Data;
using Npgsql;

namespace BlockStore.Data.Tests;

/// <summary>
/// A fresh database per test class on a real PostgreSQL server, migrated with the product's own
/// migrator, dropped afterwards. The server comes from BLOCKSTORE_TEST_ADMIN_CONNECTION (a superuser
/// connection to the 'postgres' database; build.ps1 Test sets it from the lab). Without it every
/// test fails with a message that says so: a data test that silently skips proves nothing.
/// </summary>
public sealed class TestDatabase : IAsyncLifetime
{
    public const string AdminVariable = "BLOCKSTORE_TEST_ADMIN_CONNECTION";

    private string _admin = "";

    public string Name { get; } = "bs_test_" + Guid.NewGuid().ToString("N")[..12];

    public string ConnectionString { get; private set; } = "";

    public StoreConnection Store { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _admin = Environment.GetEnvironmentVariable(AdminVariable) ?? "";
        if (string.IsNullOrWhiteSpace(_admin))
        {
            throw new InvalidOperationException(
                $"{AdminVariable} is not set. The data tests run against a real PostgreSQL server: set it to a superuser " +
                "connection to the 'postgres' database, e.g. 'Host=127.0.0.1;Port=5432;Username=blockstore;Database=postgres' " +
                "(build.ps1 Test sets it from the lab; after build.ps1 Up it is adminConnectionString in .blockstore/lab.json).");
        }

        await using (var conn = new NpgsqlConnection(_admin))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE {Name}", conn); // Name is ours: letters, digits, '_'
            await cmd.ExecuteNonQueryAsync();
        }

        ConnectionString = new NpgsqlConnectionStringBuilder(_admin) { Database = Name, MaxPoolSize = 40 }.ConnectionString;
        SchemaMigrator.Migrate(ConnectionString);
        Store = new StoreConnection(ConnectionString, "blockstore-tests");
    }

    /// <summary>
    /// Another database on the same server, created empty (not migrated), dropped when disposed: for
    /// tests of the migrator itself on a database it has never seen.
    /// </summary>
    public async Task<ScratchDatabase> CreateEmptyDatabaseAsync()
    {
        var name = "bs_scratch_" + Guid.NewGuid().ToString("N")[..12];
        await using (var conn = new NpgsqlConnection(_admin))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", conn); // name is ours: letters, digits, '_'
            await cmd.ExecuteNonQueryAsync();
        }

        return new ScratchDatabase(_admin, name, new NpgsqlConnectionStringBuilder(_admin) { Database = name }.ConnectionString);
    }

    public sealed class ScratchDatabase(string admin, string name, string connectionString) : IAsyncDisposable
    {
        public string ConnectionString { get; } = connectionString;

        public async ValueTask DisposeAsync()
        {
            using (var pooled = new NpgsqlConnection(ConnectionString)) { NpgsqlConnection.ClearPool(pooled); }
            await using var conn = new NpgsqlConnection(admin);
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand($"DROP DATABASE IF EXISTS {name} WITH (FORCE)", conn);
            await cmd.ExecuteNonQueryAsync();
        }
    }

    public async Task DisposeAsync()
    {
        if (string.IsNullOrWhiteSpace(_admin) || ConnectionString.Length == 0)
        {
            return;
        }

        await using var conn = new NpgsqlConnection(_admin);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand($"DROP DATABASE IF EXISTS {Name} WITH (FORCE)", conn);
        await cmd.ExecuteNonQueryAsync();
    }

    /// <summary>Empties every table, so each test of a class starts from nothing.</summary>
    public Task ResetAsync() =>
        ExecuteAsync("TRUNCATE bs.events, bs.operations, bs.volumes, bs.services, bs.capacity_ledger, bs.quota_ledger RESTART IDENTITY CASCADE");

    public async Task<int> ExecuteAsync(string sql)
    {
        await using var conn = new NpgsqlConnection(ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        return await cmd.ExecuteNonQueryAsync();
    }

    public async Task<T> ScalarAsync<T>(string sql)
    {
        await using var conn = new NpgsqlConnection(ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        var value = await cmd.ExecuteScalarAsync();
        return (T)Convert.ChangeType(value!, typeof(T), System.Globalization.CultureInfo.InvariantCulture);
    }

    public async Task<List<string>> ColumnAsync(string sql)
    {
        await using var conn = new NpgsqlConnection(ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        await using var r = await cmd.ExecuteReaderAsync();
        var list = new List<string>();
        while (await r.ReadAsync())
        {
            list.Add(r.IsDBNull(0) ? "" : Convert.ToString(r.GetValue(0), System.Globalization.CultureInfo.InvariantCulture)!);
        }

        return list;
    }

    /// <summary>A scheduler service with a fresh heartbeat (requests are refused without one).</summary>
    public Task AddSchedulerAsync(string host = "sched1") =>
        new ServiceRegistry(Store).RegisterAsync(host, "scheduler", "nova", "test");

    /// <summary>A volume host with a fresh heartbeat and a capacity report.</summary>
    public async Task AddHostAsync(string host, decimal totalGiB, string backend = BackendType.Thick, int reservedPercentage = 0,
        decimal ratio = 20m, string zone = "nova", decimal? freeGiB = null, decimal allocatedGiB = 0)
    {
        var registry = new ServiceRegistry(Store);
        await registry.RegisterAsync(host, "volume", zone, "test");
        await registry.HeartbeatAsync(host, "volume",
            new CapacityReport(backend, totalGiB, freeGiB ?? totalGiB, allocatedGiB, true, null, reservedPercentage, ratio));
    }

    public VolumeRequests Volumes => new(Store);

    public SchedulerQueue Scheduler => new(Store);

    public AgentQueue Agent(string host) => new(Store, host);

    /// <summary>Requests <paramref name="count"/> volumes named prefix-1..N.</summary>
    public async Task<List<BlockVolume>> CreateAsync(string prefix, int count, int sizeGiB, string? zone = null)
    {
        var list = new List<BlockVolume>();
        for (var i = 1; i <= count; i++)
        {
            list.Add(await Volumes.CreateAsync($"{prefix}-{i}", sizeGiB, zone, null));
        }

        return list;
    }

    /// <summary>Places everything pending with one scheduler.</summary>
    public async Task<List<PlacementOutcome>> PlaceAllAsync(string scheduler = "sched1", int batch = 32)
    {
        var all = new List<PlacementOutcome>();
        while (true)
        {
            var outcomes = await Scheduler.PlaceBatchAsync(scheduler, batch);
            all.AddRange(outcomes);
            if (outcomes.Count == 0)
            {
                return all;
            }
        }
    }

    /// <summary>Runs every claimable operation of a host to success, as an agent whose LVM never fails.</summary>
    public async Task<int> RunAgentAsync(string host, string owner = "agent")
    {
        var queue = Agent(host);
        var n = 0;
        while (true)
        {
            var claimed = await queue.ClaimAsync(owner, TimeSpan.FromSeconds(30), 8);
            if (claimed.Count == 0)
            {
                return n;
            }

            foreach (var op in claimed)
            {
                Assert.True(await queue.CompleteAsync(owner, op, null));
                n++;
            }
        }
    }

    public async Task<string> StatusAsync(Guid volumeId) => (await Volumes.GetAsync(volumeId))!.Status;

    /// <summary>
    /// The reconcile checks of both ledgers: each host whose capacity ledger row differs from the
    /// sum from scratch (bs.capacity_held, which every table that holds space extends), and each
    /// project and type whose quota ledger row differs from bs.quota_usage (0017). Empty when right.
    /// </summary>
    public Task<List<string>> LedgerDriftAsync() => ColumnAsync(
        "SELECT host || ': ledger ' || ledger_gib || ' GiB in ' || ledger_volumes || ', held ' || held_gib || ' GiB in ' || held_volumes " +
        "FROM bs.capacity_ledger_drift " +
        "UNION ALL " +
        "SELECT 'quota ' || project || '/' || volume_type || ': ledger ' || ledger_volumes || ' volumes, ' || ledger_gigabytes || ' GiB, ' || ledger_snapshots || " +
        "  ' snapshots, held ' || held_volumes || ' volumes, ' || held_gigabytes || ' GiB, ' || held_snapshots || ' snapshots' " +
        "FROM bs.quota_ledger_drift ORDER BY 1");

    /// <summary>Registers <paramref name="count"/> volume hosts host-0001.. with a fresh heartbeat and report, in one statement.</summary>
    public Task AddHostsAsync(int count, decimal totalGiB, string zone = "nova") =>
        ExecuteAsync(
            "INSERT INTO bs.services (host, service, zone, version, started_at, heartbeat_at, backend_type, total_gib, free_gib, allocated_gib) " +
            $"SELECT 'host-' || lpad(i::text, 4, '0'), 'volume', '{zone}', 'test', now(), now(), 'thick', {totalGiB.ToString(System.Globalization.CultureInfo.InvariantCulture)}, " +
            $"{totalGiB.ToString(System.Globalization.CultureInfo.InvariantCulture)}, 0 FROM generate_series(1, {count}) i");

    /// <summary>Sum of sizes our ledger has placed on each host (live volumes only).</summary>
    public async Task<Dictionary<string, decimal>> ProvisionedAsync()
    {
        var rows = await ColumnAsync(
            "SELECT host || '=' || sum(size_gib) FROM bs.volumes WHERE host IS NOT NULL AND status NOT IN ('deleted', 'error') GROUP BY host");
        return rows.Select(r => r.Split('=')).ToDictionary(p => p[0], p => decimal.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture));
    }
}
