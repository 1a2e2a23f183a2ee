using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using BlockStore.Bench;
using BlockStore.Core;
using BlockStore.Data;
using Npgsql;

// The load harness of tests/bench/Scale.Bench.ps1 (build.ps1 Bench). Two modes:
//   seed --connection <admin cs> --hosts N --volumes M
//       registers N SIMULATED volume hosts (zone 'sim') and gives them M existing volumes
//   run  --connection <admin cs> --hosts N --requests P --out results.json
//        [--schedulers scheduler1,scheduler2 --scheduler-pids p1,p2]
//       runs the simulated hosts (heartbeat + claim loops) against the real scheduler process and
//       measures: PostgreSQL CPU of their heartbeats, placements/s with one and two schedulers,
//       NOTIFY -> claim, and checks that nothing is overcommitted.
//   place --connection <admin cs> --requests P [--schedulers a,b --use 1]
//       only the placement rate (for profiles): P requests placed by the first --use schedulers
var opts = Args.Parse(args);
var cs = opts.Get("connection");
var hostCount = int.Parse(opts.Get("hosts", "1000"), CultureInfo.InvariantCulture);
var zone = opts.Get("zone", "sim");
var vgGiB = decimal.Parse(opts.Get("vg-gib", "1000"), CultureInfo.InvariantCulture);
var store = new StoreConnection(new NpgsqlConnectionStringBuilder(cs) { MaxPoolSize = 60, Timeout = 30, CommandTimeout = 600 }.ConnectionString, "blockstore-bench");
var names = Enumerable.Range(1, hostCount).Select(i => $"sim-{i:0000}").ToArray();

switch (args[0])
{
    case "seed":
        await Seed.RunAsync(store, names, zone, int.Parse(opts.Get("volumes", "100000"), CultureInfo.InvariantCulture));
        break;
    case "run":
        var results = await Run.AllAsync(store, names, zone, vgGiB, opts);
        await File.WriteAllTextAsync(opts.Get("out"), JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine(JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true }));
        break;
    case "place":
        // One placement measurement alone (for profiling): the first of --schedulers places, the others are disabled.
        var all = opts.Get("schedulers", "scheduler1,scheduler2").Split(',');
        var n = int.Parse(opts.Get("requests", "5000"), CultureInfo.InvariantCulture);
        var (rate, seconds, _) = await Run.PlacementRateAsync(store, zone, n, all[..int.Parse(opts.Get("use", "1"), CultureInfo.InvariantCulture)], all);
        Console.WriteLine($"{n} placements in {seconds:0.00} s = {rate:0}/s");
        await Sql.ExecAsync(store, "UPDATE bs.services SET disabled = false WHERE service = 'scheduler' AND host = ANY(@s)", ("s", all));
        break;
    default:
        throw new ArgumentException("mode: seed, run or place");
}

internal sealed class Args(Dictionary<string, string> values)
{
    public static Args Parse(string[] args)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 1; i + 1 < args.Length; i += 2)
        {
            d[args[i].TrimStart('-')] = args[i + 1];
        }

        return new Args(d);
    }

    public string Get(string name, string? fallback = null) =>
        values.TryGetValue(name, out var v) ? v : fallback ?? throw new ArgumentException($"--{name} is required");

    public bool Has(string name) => values.ContainsKey(name);
}

internal static class Sql
{
    public static async Task<int> ExecAsync(StoreConnection store, string sql, params (string, object)[] ps)
    {
        await using var conn = await store.OpenAsync(CancellationToken.None);
        await using var cmd = new NpgsqlCommand(sql, conn) { CommandTimeout = 1200 };
        foreach (var (n, v) in ps)
        {
            cmd.Parameters.AddWithValue(n, v);
        }

        return await cmd.ExecuteNonQueryAsync();
    }

    public static async Task<T> ScalarAsync<T>(StoreConnection store, string sql, params (string, object)[] ps)
    {
        await using var conn = await store.OpenAsync(CancellationToken.None);
        await using var cmd = new NpgsqlCommand(sql, conn) { CommandTimeout = 1200 };
        foreach (var (n, v) in ps)
        {
            cmd.Parameters.AddWithValue(n, v);
        }

        return (T)Convert.ChangeType((await cmd.ExecuteScalarAsync())!, typeof(T), CultureInfo.InvariantCulture);
    }

    public static async Task<List<double>> DoublesAsync(StoreConnection store, string sql, params (string, object)[] ps)
    {
        await using var conn = await store.OpenAsync(CancellationToken.None);
        await using var cmd = new NpgsqlCommand(sql, conn) { CommandTimeout = 1200 };
        foreach (var (n, v) in ps)
        {
            cmd.Parameters.AddWithValue(n, v);
        }

        var list = new List<double>();
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync())
        {
            list.Add(Convert.ToDouble(r.GetValue(0), CultureInfo.InvariantCulture));
        }

        return list;
    }
}

internal static class Seed
{
    /// <summary>Registers the simulated hosts and brings their existing volumes up to <paramref name="volumes"/> (idempotent).</summary>
    public static async Task RunAsync(StoreConnection store, string[] names, string zone, int volumes)
    {
        var sw = Stopwatch.StartNew();
        var registry = new ServiceRegistry(store);
        var existing = (await Sql.DoublesAsync(store, "SELECT count(*) FROM bs.services WHERE host LIKE 'sim-%'"))[0];
        if (existing < names.Length)
        {
            foreach (var chunk in names.Chunk(50))
            {
                await Task.WhenAll(chunk.Select(n => registry.RegisterAsync(n, ServiceType.Volume, zone, "simulated")));
            }
        }

        var have = await Sql.ScalarAsync<int>(store, "SELECT count(*) FROM bs.volumes WHERE zone = @z AND name LIKE 'seed-%'", ("z", zone));
        if (have < volumes)
        {
            // Placed, available volumes with their succeeded create operation and their events, as the
            // product leaves them: the tables the hot queries run on hold 100,000 rows.
            await Sql.ExecAsync(store,
                "WITH v AS (INSERT INTO bs.volumes (id, name, size_gib, status, host, zone, created_at, updated_at) " +
                "  SELECT gen_random_uuid(), 'seed-' || i, 1, 'available', @hosts[1 + i % cardinality(@hosts)], @z, now(), now() " +
                "  FROM generate_series(@from, @to) i RETURNING id, host), " +
                "o AS (INSERT INTO bs.operations (volume_id, kind, stage, host, attempts, finished_at) " +
                "  SELECT id, 'create', 'succeeded', host, 1, now() FROM v) " +
                "INSERT INTO bs.events (volume_id, host, service, kind, message) " +
                "SELECT id, host, 'volume', 'available', 'created (seeded by the load benchmark)' FROM v",
                ("hosts", names), ("z", zone), ("from", have + 1), ("to", volumes));
            await Sql.ExecAsync(store, "ANALYZE");
        }

        Console.WriteLine($"seeded {names.Length} simulated hosts, {volumes} volumes in zone {zone} in {sw.Elapsed.TotalSeconds:0.0} s");
    }
}
