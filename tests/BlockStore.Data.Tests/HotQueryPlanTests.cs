using System.Text.Json;

namespace BlockStore.Data.Tests;

/// <summary>
/// The hot queries at scale: 1,000 hosts, 100,000 volumes with their operations and events, a
/// backlog of pending creates. EXPLAIN (the planner's choice on analysed tables) must use an index
/// for each: a sequential scan of volumes, operations or events would grow with the cloud.
/// The SQL is the product's (SchedulerQueue, AgentQueue, VolumeRequests, ServiceRegistry).
/// </summary>
public sealed class HotQueryPlanTests(TestDatabase db) : IClassFixture<TestDatabase>
{
    private static readonly string[] BigTables = ["volumes", "operations", "events"];

    private async Task SeedAsync()
    {
        if (await db.ScalarAsync<int>("SELECT count(*) FROM bs.volumes") >= 100000)
        {
            return;
        }

        await db.ResetAsync();
        await db.AddSchedulerAsync();
        await db.AddHostsAsync(1000, 1000);
        // One statement of 300,000 rows: no command timeout (the shared test machine can be slow).
        await using var conn = new Npgsql.NpgsqlConnection(db.ConnectionString);
        await conn.OpenAsync();
        await using var seed = new Npgsql.NpgsqlCommand(
            "WITH v AS (INSERT INTO bs.volumes (id, name, size_gib, status, host, zone, created_at) " +
            "  SELECT gen_random_uuid(), 'vol-' || i, 1, CASE WHEN i % 10 = 0 THEN 'deleted' ELSE 'available' END, " +
            "    'host-' || lpad((1 + i % 1000)::text, 4, '0'), 'nova', now() - make_interval(secs => 100000 - i) " +
            "  FROM generate_series(1, 100000) i RETURNING id, host), " +
            "o AS (INSERT INTO bs.operations (volume_id, kind, stage, host, finished_at) SELECT id, 'create', 'succeeded', host, now() FROM v) " +
            "INSERT INTO bs.events (volume_id, host, service, kind, message) SELECT id, host, 'volume', 'available', 'created' FROM v", conn)
        {
            CommandTimeout = 0,
        };
        await seed.ExecuteNonQueryAsync();
        // The seed can outlast the scheduler's heartbeat (service_down_seconds = 10) on a loaded
        // machine, and a request needs a live scheduler: beat once more (CI, 2026-12-04).
        await db.AddSchedulerAsync();
        await db.CreateAsync("pending", 50, 1);
        await using var analyze = new Npgsql.NpgsqlCommand("ANALYZE", conn) { CommandTimeout = 0 };
        await analyze.ExecuteNonQueryAsync();
    }

    private async Task AssertIndexedAsync(string sql)
    {
        var json = string.Join("", await db.ColumnAsync("EXPLAIN (FORMAT JSON) " + sql));
        var scans = new List<string>();
        Walk(JsonDocument.Parse(json).RootElement[0].GetProperty("Plan"), scans);
        Assert.True(scans.Count == 0, $"sequential scan of {string.Join(", ", scans)} in:\n{sql}\n{json}");
    }

    private static void Walk(JsonElement node, List<string> scans)
    {
        if (node.GetProperty("Node Type").GetString() == "Seq Scan"
            && node.TryGetProperty("Relation Name", out var rel) && BigTables.Contains(rel.GetString()))
        {
            scans.Add(rel.GetString()!);
        }

        if (node.TryGetProperty("Plans", out var children))
        {
            foreach (var child in children.EnumerateArray())
            {
                Walk(child, scans);
            }
        }
    }

    [Fact]
    public async Task The_scheduler_claim_reads_only_pending_operations()
    {
        await SeedAsync();
        await AssertIndexedAsync(
            "SELECT o.id, o.volume_id, v.size_gib, v.zone FROM bs.operations o JOIN bs.volumes v ON v.id = o.volume_id " +
            "WHERE o.stage = 'pending' ORDER BY o.id LIMIT 32 FOR UPDATE OF o SKIP LOCKED");
    }

    [Fact]
    public async Task The_agent_claim_reads_only_its_host_live_operations()
    {
        await SeedAsync();
        await AssertIndexedAsync(
            "SELECT o.id FROM bs.operations o " +
            "WHERE o.host = 'host-0042' AND (o.stage = 'scheduled' OR (o.stage = 'running' AND o.lease_expires_at < now())) " +
            "  AND NOT EXISTS (SELECT 1 FROM bs.operations p WHERE p.volume_id = o.volume_id AND p.id < o.id " +
            "                  AND p.stage IN ('pending', 'scheduled', 'running')) " +
            "ORDER BY o.id LIMIT 8 FOR UPDATE OF o SKIP LOCKED");
    }

    [Fact]
    public async Task Placement_and_the_service_listing_read_the_ledger_not_the_volumes()
    {
        await SeedAsync();
        await AssertIndexedAsync(
            "SELECT s.host, coalesce(l.provisioned_gib, 0) FROM bs.services s LEFT JOIN bs.capacity_ledger l ON l.host = s.host WHERE s.service = 'volume'");
        await AssertIndexedAsync(
            "SELECT s.host, coalesce((SELECT l.provisioned_gib FROM bs.capacity_ledger l WHERE l.host = s.host), 0) FROM bs.services s");
        Assert.Empty(await db.LedgerDriftAsync());
    }

    [Fact]
    public async Task A_volume_by_name_by_id_and_its_events_are_index_lookups()
    {
        await SeedAsync();
        await AssertIndexedAsync("SELECT v.id FROM bs.volumes v WHERE v.name = 'vol-77' AND v.status <> 'deleted'");
        await AssertIndexedAsync("SELECT v.id FROM bs.volumes v WHERE v.id = ANY(ARRAY['00000000-0000-4000-8000-000000000001'::uuid])");
        await AssertIndexedAsync("SELECT * FROM (SELECT * FROM bs.events WHERE volume_id = '00000000-0000-4000-8000-000000000001' ORDER BY id DESC LIMIT 20) e ORDER BY id");
        await AssertIndexedAsync("SELECT id FROM bs.operations WHERE volume_id = '00000000-0000-4000-8000-000000000001' AND stage IN ('pending', 'scheduled', 'running') ORDER BY id");
        await AssertIndexedAsync("SELECT id FROM bs.volumes WHERE host = 'host-0042' AND status = 'available'");
    }

    [Fact]
    public async Task The_queue_depth_gauge_counts_open_operations_from_their_indexes()
    {
        await SeedAsync();
        // The function's own body (bs.queue_depth, 0016), planned as the scheduler's metrics job runs it.
        var body = await db.ScalarAsync<string>("SELECT prosrc FROM pg_proc WHERE oid = 'bs.queue_depth'::regproc");
        await AssertIndexedAsync(body);
        var depth = await db.ColumnAsync("SELECT stage || '=' || depth FROM bs.queue_depth()");
        Assert.Equal(["pending=" + await db.ScalarAsync<long>("SELECT count(*) FROM bs.operations WHERE stage = 'pending'"),
            "scheduled=" + await db.ScalarAsync<long>("SELECT count(*) FROM bs.operations WHERE stage = 'scheduled'"),
            "running=" + await db.ScalarAsync<long>("SELECT count(*) FROM bs.operations WHERE stage = 'running'")], depth);
    }

    [Fact]
    public async Task The_first_page_of_the_volume_listing_is_read_in_order_not_sorted()
    {
        await SeedAsync();
        await AssertIndexedAsync("SELECT v.id, v.name FROM bs.volumes v WHERE v.status <> 'deleted' ORDER BY v.created_at, v.id LIMIT 500");
    }

    [Fact]
    public async Task The_up_test_reads_the_down_threshold_once_per_statement_not_once_per_host()
    {
        // Called bare in the filter, bs.service_down_seconds() ran for every host: the scheduler's
        // signature read over 1,000 hosts took about 7 ms instead of 0.5 (issue 11). As a scalar
        // subquery it is an InitPlan, evaluated once; the plan's shape does not depend on the rows.
        var json = string.Join("", await db.ColumnAsync("EXPLAIN (FORMAT JSON) SELECT count(*) FILTER (WHERE " + ServiceSql.Up + ") FROM bs.services s"));
        Assert.Contains("\"InitPlan\"", json);
        var bare = string.Join("", await db.ColumnAsync("EXPLAIN (FORMAT JSON) SELECT count(*) FILTER (WHERE " +
            ServiceSql.Up.Replace("(SELECT bs.service_down_seconds())", "bs.service_down_seconds()", StringComparison.Ordinal) + ") FROM bs.services s"));
        Assert.DoesNotContain("\"InitPlan\"", bare);
    }
}
