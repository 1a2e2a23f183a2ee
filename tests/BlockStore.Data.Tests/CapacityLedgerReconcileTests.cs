using BlockStore.Core;
using Npgsql;

namespace BlockStore.Data.Tests;

/// <summary>
/// The capacity ledger (migration 0008) against the sum from scratch (bs.capacity_ledger_drift):
/// after every kind of change a volume goes through, through the product's own code paths and by
/// hand, it is right; and placement locks only the hosts it uses.
/// </summary>
public sealed class CapacityLedgerReconcileTests(TestDatabase db) : IClassFixture<TestDatabase>
{
    private async Task FreshAsync()
    {
        await db.ResetAsync();
        await db.AddSchedulerAsync();
    }

    private async Task AssertNoDriftAsync(string when) =>
        Assert.True((await db.LedgerDriftAsync()).Count == 0, $"{when}: {string.Join("; ", await db.LedgerDriftAsync())}");

    private Task<long> LedgerAsync(string host) =>
        db.ScalarAsync<long>($"SELECT coalesce((SELECT provisioned_gib FROM bs.capacity_ledger WHERE host = '{host}'), -1)");

    [Fact]
    public async Task Core_and_sql_agree_on_what_holds_space()
    {
        foreach (var status in VolumeStatus.All)
        {
            foreach (var host in new[] { null, "host-a" })
            {
                var sql = await db.ScalarAsync<bool>(
                    $"SELECT bs.volume_holds_space({(host is null ? "NULL" : $"'{host}'")}, '{status}')");
                Assert.True(CapacityLedger.VolumeHoldsSpace(host, status) == sql, $"{status} on {host ?? "no host"}: Core {!sql}, SQL {sql}");
            }
        }
    }

    [Fact]
    public async Task A_registered_host_has_a_ledger_row_at_zero()
    {
        await FreshAsync();
        await db.AddHostAsync("host-a", 10);
        Assert.Equal(0, await LedgerAsync("host-a"));
        Assert.Equal(-1, await LedgerAsync("sched1")); // schedulers hold no space
    }

    [Fact]
    public async Task The_ledger_follows_every_step_of_the_lifecycle()
    {
        await FreshAsync();
        await db.AddHostAsync("host-a", 20);
        await db.AddHostAsync("host-b", 8);

        var created = await db.CreateAsync("life", 4, 3);
        Assert.Equal(0, await LedgerAsync("host-a"));
        await AssertNoDriftAsync("requested");

        var outcomes = await db.PlaceAllAsync(batch: 3);
        Assert.Equal(12, await LedgerAsync("host-a") + await LedgerAsync("host-b"));
        await AssertNoDriftAsync("placed");

        var tooBig = (await db.CreateAsync("big", 1, 30))[0];
        await db.PlaceAllAsync();
        Assert.Equal(VolumeStatus.Error, await db.StatusAsync(tooBig.Id));
        await AssertNoDriftAsync("failed placement");

        // A create that fails on the host releases its space; one that succeeds keeps it.
        var failing = created[0];
        var failingHost = outcomes.Single(o => o.VolumeId == failing.Id).Host!;
        var agent = db.Agent(failingHost);
        var claimed = await agent.ClaimAsync("agent", TimeSpan.FromSeconds(30), 8);
        foreach (var op in claimed)
        {
            await agent.CompleteAsync("agent", op, op.VolumeId == failing.Id ? "lvcreate failed" : null);
        }

        await db.RunAgentAsync("host-a");
        await db.RunAgentAsync("host-b");
        Assert.Equal(VolumeStatus.Error, await db.StatusAsync(failing.Id));
        Assert.Equal(9, await LedgerAsync("host-a") + await LedgerAsync("host-b"));
        await AssertNoDriftAsync("created and failed on the host");

        // Deleting holds the space until the LV is gone; a failed delete keeps holding it.
        await db.Volumes.RequestDeleteAsync(created[1].Id);
        await db.Volumes.RequestDeleteAsync(created[2].Id);
        Assert.Equal(9, await LedgerAsync("host-a") + await LedgerAsync("host-b"));
        foreach (var host in new[] { "host-a", "host-b" })
        {
            var q = db.Agent(host);
            foreach (var op in await q.ClaimAsync("agent", TimeSpan.FromSeconds(30), 8))
            {
                await q.CompleteAsync("agent", op, op.VolumeId == created[2].Id ? "lvremove failed" : null);
            }
        }

        Assert.Equal(VolumeStatus.Deleted, await db.StatusAsync(created[1].Id));
        Assert.Equal(VolumeStatus.ErrorDeleting, await db.StatusAsync(created[2].Id));
        Assert.Equal(6, await LedgerAsync("host-a") + await LedgerAsync("host-b"));
        await AssertNoDriftAsync("deleted, and failed to delete");

        // Deleting a volume that never reached a host and one that failed placement changes nothing.
        var unplaced = (await db.CreateAsync("unplaced", 1, 2))[0];
        await db.Volumes.RequestDeleteAsync(unplaced.Id);
        await db.Volumes.RequestDeleteAsync(tooBig.Id);
        await db.Volumes.RequestDeleteAsync(failing.Id);
        await db.RunAgentAsync(failingHost);
        Assert.Equal(6, await LedgerAsync("host-a") + await LedgerAsync("host-b"));
        await AssertNoDriftAsync("deleted before placement");
    }

    [Fact]
    public async Task Changes_by_hand_in_sql_keep_it_right_too()
    {
        await FreshAsync();
        await db.AddHostAsync("host-a", 100);
        await db.AddHostAsync("host-b", 100);
        // Bulk insert of placed volumes (as a benchmark seeds them), a move, a resize, a delete of rows.
        await db.ExecuteAsync(
            "INSERT INTO bs.volumes (id, name, size_gib, status, host) " +
            "SELECT gen_random_uuid(), 'seed-' || i, 1 + i % 3, CASE WHEN i % 5 = 0 THEN 'error' ELSE 'available' END, " +
            "  CASE WHEN i % 2 = 0 THEN 'host-a' ELSE 'host-b' END FROM generate_series(1, 40) i");
        await AssertNoDriftAsync("bulk insert");
        await db.ExecuteAsync("UPDATE bs.volumes SET host = 'host-b' WHERE name IN ('seed-2', 'seed-4')");
        await db.ExecuteAsync("UPDATE bs.volumes SET size_gib = size_gib + 5 WHERE name LIKE 'seed-1%'");
        await db.ExecuteAsync("UPDATE bs.volumes SET status = 'available' WHERE name = 'seed-5'");
        await AssertNoDriftAsync("updates");
        await db.ExecuteAsync("DELETE FROM bs.volumes WHERE name LIKE 'seed-3%'");
        await AssertNoDriftAsync("delete");
        Assert.True(await LedgerAsync("host-a") > 0);
    }

    [Fact]
    public async Task The_ledgers_writer_sums_per_host_skips_nothing_to_add_inserts_a_missing_row_and_never_goes_below_zero()
    {
        await FreshAsync();
        await db.AddHostAsync("host-a", 100);
        // What the triggers pass: one entry per row of the statement, hosts in any order, repeated.
        await db.ExecuteAsync(
            "SELECT bs.capacity_ledger_add(ARRAY['host-z', 'host-a', 'host-a', 'host-b', 'host-a'], " +
            "ARRAY[2, 3, 4, 0, -2]::bigint[], ARRAY[1, 1, 1, 0, -1])");
        Assert.Equal(5, await LedgerAsync("host-a"));
        // Nothing to add: no row written (host-b has none).
        Assert.Equal(-1, await LedgerAsync("host-b"));
        Assert.Equal(1, await db.ScalarAsync<int>("SELECT volumes FROM bs.capacity_ledger WHERE host = 'host-a'"));
        // A host without a row gets one (a volume placed before its host registered, by hand).
        Assert.Equal(2, await LedgerAsync("host-z"));
        // Nor for differences that add up to nothing.
        await db.ExecuteAsync("SELECT bs.capacity_ledger_add(ARRAY['host-y', 'host-y'], ARRAY[3, -3]::bigint[], ARRAY[1, -1])");
        Assert.Equal(-1, await LedgerAsync("host-y"));
        // More taken back than the row holds, or anything from a host with no row, is a drift: refused, nothing written.
        foreach (var host in new[] { "host-a", "host-x" })
        {
            var e = await Assert.ThrowsAsync<PostgresException>(() => db.ExecuteAsync(
                $"SELECT bs.capacity_ledger_add(ARRAY['host-z', '{host}'], ARRAY[1, -6]::bigint[], ARRAY[0, -1])"));
            Assert.Equal(PostgresErrorCodes.CheckViolation, e.SqlState);
        }

        Assert.Equal(5, await LedgerAsync("host-a"));
        Assert.Equal(2, await LedgerAsync("host-z"));
        Assert.Equal(-1, await LedgerAsync("host-x"));
    }

    [Fact]
    public async Task The_ledgers_writers_keep_their_plans_for_the_session()
    {
        // A SQL function's statement is planned again at every call (it writes, so it is never
        // inlined): 0.7 ms of every placement and delete at 1,000 hosts for the capacity ledger's
        // (0019). PL/pgSQL keeps its statements' plans.
        foreach (var writer in new[] { "capacity_ledger_add", "quota_ledger_add" })
        {
            Assert.Equal("plpgsql", await db.ScalarAsync<string>(
                $"SELECT l.lanname::text FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang WHERE p.oid = 'bs.{writer}'::regproc"));
        }
    }

    [Fact]
    public async Task A_drift_is_seen_by_the_reconcile_query()
    {
        await FreshAsync();
        await db.AddHostAsync("host-a", 100);
        await db.CreateAsync("d", 2, 5);
        await db.PlaceAllAsync();
        await AssertNoDriftAsync("placed");
        await db.ExecuteAsync("UPDATE bs.capacity_ledger SET provisioned_gib = provisioned_gib + 1 WHERE host = 'host-a'");
        Assert.Equal(["host-a: ledger 11 GiB in 2, held 10 GiB in 2"], await db.LedgerDriftAsync());
    }

    [Fact]
    public async Task A_quota_ledger_drift_is_seen_by_the_reconcile_query()
    {
        // The quota ledger (0017) follows every create and delete of a project; a change by hand shows.
        await FreshAsync();
        await db.AddHostAsync("host-a", 100);
        await db.CreateAsync("q", 2, 5);
        await db.PlaceAllAsync();
        await AssertNoDriftAsync("placed");
        Assert.Equal("2/10/0", await db.ScalarAsync<string>(
            "SELECT sum(volumes) || '/' || sum(gigabytes) || '/' || sum(snapshots) FROM bs.quota_ledger WHERE project = 'default' AND volume_type = 'default'"));
        // One slot (0018) changed by hand.
        await db.ExecuteAsync("UPDATE bs.quota_ledger SET gigabytes = gigabytes + 1 WHERE (project, volume_type, slot) = " +
            "(SELECT project, volume_type, slot FROM bs.quota_ledger WHERE project = 'default' AND volume_type = 'default' LIMIT 1)");
        Assert.Equal(["quota default/default: ledger 2 volumes, 11 GiB, 0 snapshots, held 2 volumes, 10 GiB, 0 snapshots"], await db.LedgerDriftAsync());
    }

    [Fact]
    public async Task The_quota_ledger_slots_are_summed_by_the_check_and_the_reconcile_query()
    {
        // 0018: each server process writes its own slot of a (project, type), so concurrent requests
        // of one project update different rows. A volume counted on one connection and released on
        // another leaves that slot below zero; only the sums must be right, and the quota check reads
        // the sums (reading one slot would see the project's only volume and refuse the next one).
        await FreshAsync();
        var (a, b) = await TwoConnectionsInDifferentSlotsAsync();
        await using (a)
        await using (b)
        {
            try
            {
                await db.ExecuteAsync("INSERT INTO bs.quotas (project, volume_type, resource, hard_limit) VALUES ('default', NULL, 'volumes', 1)");
                var first = Guid.NewGuid();
                await ExecuteOnAsync(a, $"INSERT INTO bs.volumes (id, name, size_gib, status, project, volume_type) VALUES ('{first}', 'slot-1', 5, 'creating', 'default', 'default')");
                var refused = await Assert.ThrowsAsync<PostgresException>(() => ExecuteOnAsync(a,
                    $"INSERT INTO bs.volumes (id, name, size_gib, status, project, volume_type) VALUES ('{Guid.NewGuid()}', 'slot-2', 5, 'creating', 'default', 'default')"));
                Assert.Equal("BSQ01", refused.SqlState);

                await ExecuteOnAsync(b, $"DELETE FROM bs.volumes WHERE id = '{first}'");
                Assert.Equal(["-1/-5", "1/5"], await db.ColumnAsync(
                    "SELECT volumes || '/' || gigabytes FROM bs.quota_ledger WHERE project = 'default' AND volume_type = 'default' ORDER BY volumes"));
                await AssertNoDriftAsync("released in another slot");

                // The project holds nothing again: the limit of 1 lets one more in, on either connection.
                await ExecuteOnAsync(a, $"INSERT INTO bs.volumes (id, name, size_gib, status, project, volume_type) VALUES ('{Guid.NewGuid()}', 'slot-3', 5, 'creating', 'default', 'default')");
                await AssertNoDriftAsync("counted again");
                Assert.Equal(1, await db.ScalarAsync<long>("SELECT sum(volumes) FROM bs.quota_ledger WHERE project = 'default'"));
            }
            finally
            {
                await db.ExecuteAsync("DELETE FROM bs.quotas WHERE project = 'default'");
            }
        }
    }

    // Unpooled connections until two server processes fall in different slots (pg_backend_pid() % 16).
    private async Task<(NpgsqlConnection A, NpgsqlConnection B)> TwoConnectionsInDifferentSlotsAsync()
    {
        var unpooled = new NpgsqlConnectionStringBuilder(db.ConnectionString) { Pooling = false }.ConnectionString;
        var a = new NpgsqlConnection(unpooled);
        await a.OpenAsync();
        var slotA = a.ProcessID % 16;
        for (var i = 0; i < 64; i++)
        {
            var b = new NpgsqlConnection(unpooled);
            await b.OpenAsync();
            if (b.ProcessID % 16 != slotA)
            {
                return (a, b);
            }

            await b.DisposeAsync();
        }

        await a.DisposeAsync();
        throw new InvalidOperationException("64 connections in a row had the same slot");
    }

    private static async Task ExecuteOnAsync(NpgsqlConnection conn, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task A_random_mix_of_requests_never_lets_it_drift()
    {
        await FreshAsync();
        await db.AddHostAsync("host-a", 40);
        await db.AddHostAsync("host-b", 30);
        var random = new Random(11);
        var live = new List<Guid>();
        for (var step = 0; step < 40; step++)
        {
            switch (random.Next(4))
            {
                case 0 or 1:
                    live.AddRange((await db.CreateAsync($"mix{step}", random.Next(1, 4), random.Next(1, 9))).Select(v => v.Id));
                    break;
                case 2 when live.Count > 0:
                    var victim = live[random.Next(live.Count)];
                    live.Remove(victim);
                    var status = await db.StatusAsync(victim);
                    if (VolumeStateMachine.CanRequestDelete(status))
                    {
                        await db.Volumes.RequestDeleteAsync(victim);
                    }

                    break;
                default:
                    await db.PlaceAllAsync(batch: 1 + random.Next(5));
                    foreach (var host in new[] { "host-a", "host-b" })
                    {
                        var q = db.Agent(host);
                        foreach (var op in await q.ClaimAsync("agent", TimeSpan.FromSeconds(30), 4))
                        {
                            await q.CompleteAsync("agent", op, random.Next(5) == 0 ? "simulated LVM failure" : null);
                        }
                    }

                    break;
            }

            await AssertNoDriftAsync($"step {step}");
        }

        Assert.True(await LedgerAsync("host-a") <= 40 && await LedgerAsync("host-b") <= 30);
    }

    [Fact]
    public async Task Placement_skips_a_host_another_transaction_holds_and_does_not_wait_for_it()
    {
        await FreshAsync();
        await db.AddHostAsync("host-a", 100);
        await db.AddHostAsync("host-b", 50);
        await using var holder = new NpgsqlConnection(db.ConnectionString);
        await holder.OpenAsync();
        await using var tx = await holder.BeginTransactionAsync();
        await using (var lockA = new NpgsqlCommand("SELECT 1 FROM bs.capacity_ledger WHERE host = 'host-a' FOR UPDATE", holder, tx))
        {
            await lockA.ExecuteNonQueryAsync();
        }

        // host-a has the most free space but is held: the burst goes to host-b, without waiting.
        await db.CreateAsync("busy", 3, 1);
        var outcomes = await db.PlaceAllAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(["host-b", "host-b", "host-b"], outcomes.Select(o => o.Host));

        // Heartbeats and capacity reports do not wait for placement (they write the service row only).
        await new ServiceRegistry(db.Store).HeartbeatAsync("host-a", "volume",
            new CapacityReport(BackendType.Thick, 100, 100, 0, true, null, 0, 20)).WaitAsync(TimeSpan.FromSeconds(30));
        await tx.RollbackAsync();
        await AssertNoDriftAsync("after");
    }

    [Fact]
    public async Task A_request_only_a_held_host_can_take_waits_for_it_instead_of_failing()
    {
        await FreshAsync();
        await db.AddHostAsync("host-a", 100);
        await db.AddHostAsync("host-b", 5);
        var big = (await db.CreateAsync("only-a", 1, 50))[0];
        await using var holder = new NpgsqlConnection(db.ConnectionString);
        await holder.OpenAsync();
        var tx = await holder.BeginTransactionAsync();
        await using (var lockA = new NpgsqlCommand("SELECT 1 FROM bs.capacity_ledger WHERE host = 'host-a' FOR UPDATE", holder, tx))
        {
            await lockA.ExecuteNonQueryAsync();
        }

        var placing = db.Scheduler.PlaceBatchAsync("sched1", 8);
        await Task.Delay(300);
        Assert.False(placing.IsCompleted);
        Assert.Equal("pending", await db.ScalarAsync<string>($"SELECT stage FROM bs.operations WHERE volume_id = '{big.Id}'"));
        await tx.RollbackAsync();
        Assert.Equal("host-a", Assert.Single(await placing.WaitAsync(TimeSpan.FromSeconds(30))).Host);
    }

    [Fact]
    public async Task Disabling_a_host_waits_for_a_batch_that_holds_it_and_later_batches_see_it()
    {
        await FreshAsync();
        await db.AddHostAsync("host-a", 100);
        await using var holder = new NpgsqlConnection(db.ConnectionString);
        await holder.OpenAsync();
        var tx = await holder.BeginTransactionAsync();
        await using (var lockA = new NpgsqlCommand("SELECT 1 FROM bs.capacity_ledger WHERE host = 'host-a' FOR UPDATE", holder, tx))
        {
            await lockA.ExecuteNonQueryAsync();
        }

        var disabling = db.ExecuteAsync("UPDATE bs.services SET disabled = true, disabled_reason = 'maintenance' WHERE host = 'host-a'");
        await Task.Delay(300);
        Assert.False(disabling.IsCompleted);
        await tx.RollbackAsync();
        await disabling.WaitAsync(TimeSpan.FromSeconds(30));

        await db.CreateAsync("after-disable", 1, 1);
        var outcome = Assert.Single(await db.PlaceAllAsync());
        Assert.Null(outcome.Host);
        Assert.Contains("host-a: disabled (maintenance)", outcome.Reason);
    }
}
