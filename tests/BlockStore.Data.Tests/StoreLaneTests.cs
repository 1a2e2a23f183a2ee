using Npgsql;

namespace BlockStore.Data.Tests;

/// <summary>
/// A host's latency-critical path (the scheduler's placement passes, the agent's claims and
/// completions) runs through a pool of its own (StoreConnection.Lane), so it keeps one warm
/// PostgreSQL session instead of landing on whichever session of the host's shared pool has been
/// idle longest (issue 11: a session plans each statement and trigger query for itself, and the
/// placement write took 3-5 ms on a cold session against about 1 ms on a warm one).
/// </summary>
public sealed class StoreLaneTests(TestDatabase db) : IClassFixture<TestDatabase>
{
    /// <summary>A host-like store of its own (its own application name, so its own pools).</summary>
    private StoreConnection HostStore(out string name)
    {
        name = $"lane-{Guid.NewGuid():N}"[..20];
        return new StoreConnection(new NpgsqlConnectionStringBuilder(db.ConnectionString) { ApplicationName = name }.ConnectionString,
            "unused", prepareStatements: true);
    }

    private static Task<int> BackendPidAsync(StoreConnection store) =>
        store.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand("SELECT pg_backend_pid()", conn);
            return (int)(await cmd.ExecuteScalarAsync())!;
        });

    private Task<long> SessionsNamedAsync(string applicationName) =>
        db.ScalarAsync<long>($"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{applicationName}'");

    /// <summary>Leaves <paramref name="count"/> idle sessions in the store's pool, as a host's concurrent jobs do.</summary>
    private static async Task WidenAsync(StoreConnection store, int count)
    {
        var held = new List<NpgsqlConnection>();
        for (var i = 0; i < count; i++)
        {
            held.Add(await store.OpenAsync());
        }

        foreach (var c in held)
        {
            await c.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_lane_is_a_pool_of_its_own_named_after_it_that_keeps_prepared_statements()
    {
        var shared = HostStore(out var name);
        var lane = shared.Lane("placement");

        Assert.NotSame(shared.DataSource, lane.DataSource);
        var settings = new NpgsqlConnectionStringBuilder(lane.ConnectionString);
        Assert.Equal($"{name}-placement", settings.ApplicationName);
        Assert.True(settings.MinPoolSize >= 1);
        Assert.Equal(StoreConnection.AutoPreparedStatements, settings.MaxAutoPrepare);
        Assert.Equal($"{name}-placement", await lane.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand("SELECT current_setting('application_name')", conn);
            return (string)(await cmd.ExecuteScalarAsync())!;
        }));
        // The shared pool is not the lane's: it has no session named after the lane.
        await BackendPidAsync(shared);
        Assert.Equal(1, await SessionsNamedAsync($"{name}-placement"));
        Assert.Equal(1, await SessionsNamedAsync(name));
    }

    [Fact]
    public async Task A_lane_is_not_reset_between_uses_but_a_transaction_left_open_is_rolled_back()
    {
        await db.ExecuteAsync("CREATE TABLE IF NOT EXISTS public.lane_probe (n int)");
        var lane = HostStore(out _).Lane("operations");
        Assert.True(new NpgsqlConnectionStringBuilder(lane.ConnectionString).NoResetOnClose);
        var pid = await BackendPidAsync(lane);

        // An action that leaves its transaction open (a bug, or an exception between statements):
        // returning the session to the pool rolls it back, reset or not.
        await lane.RunAsync(async conn =>
        {
            var tx = await conn.BeginTransactionAsync();
            await using var cmd = new NpgsqlCommand("INSERT INTO public.lane_probe VALUES (1)", conn, tx);
            return await cmd.ExecuteNonQueryAsync();
        });
        Assert.Equal(pid, await BackendPidAsync(lane));
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM public.lane_probe"));
        Assert.Equal(0L, await lane.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand("SELECT count(*) FROM public.lane_probe", conn);
            return (long)(await cmd.ExecuteScalarAsync())!;
        }));
    }

    [Fact]
    public async Task A_lane_keeps_one_session_while_the_shared_pool_hands_out_its_sessions_in_turn()
    {
        var shared = HostStore(out var name);
        var lane = shared.Lane("placement");
        await WidenAsync(shared, 4);

        var sharedPids = new HashSet<int>();
        var lanePids = new HashSet<int>();
        for (var i = 0; i < 8; i++)
        {
            // The host's other jobs use the shared pool between the path's transactions.
            sharedPids.Add(await BackendPidAsync(shared));
            lanePids.Add(await BackendPidAsync(lane));
        }

        // Why the lane exists: the shared pool gives its idle sessions out in turn (first in,
        // first out), so a path on it lands on a different session nearly every time.
        Assert.True(sharedPids.Count > 1, $"the shared pool used {sharedPids.Count} session(s)");
        Assert.Single(lanePids);
        Assert.Equal(1, await SessionsNamedAsync($"{name}-placement"));
    }

    private static Task<string> SettingAsync(StoreConnection store, string name) =>
        store.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand("SELECT current_setting(@n)", conn);
            cmd.Parameters.AddWithValue("n", name);
            return (string)(await cmd.ExecuteScalarAsync())!;
        });

    [Fact]
    public async Task A_lane_with_generic_plans_plans_each_statement_once_and_keeps_the_strings_own_options()
    {
        var shared = HostStore(out _);
        Assert.Equal("auto", await SettingAsync(shared.Lane("operations"), "plan_cache_mode"));
        var generic = shared.Lane("placement", genericPlans: true);
        Assert.Equal("force_generic_plan", await SettingAsync(generic, "plan_cache_mode"));
        // Still after a use that returned the session to the pool (a lane is not reset), and on the same session.
        var pid = await BackendPidAsync(generic);
        Assert.Equal("force_generic_plan", await SettingAsync(generic, "plan_cache_mode"));
        Assert.Equal(pid, await BackendPidAsync(generic));
        // The shared pool's sessions keep PostgreSQL's default.
        Assert.Equal("auto", await SettingAsync(shared, "plan_cache_mode"));

        // Options the connection string already had are kept beside it.
        var withOptions = new StoreConnection(
            new NpgsqlConnectionStringBuilder(db.ConnectionString) { ApplicationName = $"lane-{Guid.NewGuid():N}"[..20], Options = "-c statement_timeout=61000" }.ConnectionString,
            "unused", prepareStatements: true).Lane("placement", genericPlans: true);
        Assert.Equal("force_generic_plan", await SettingAsync(withOptions, "plan_cache_mode"));
        Assert.Equal("61s", await SettingAsync(withOptions, "statement_timeout"));
    }

    [Fact]
    public async Task Placement_runs_in_the_schedulers_lane_and_the_queue_depth_gauge_does_not()
    {
        await db.ResetAsync();
        await db.AddSchedulerAsync("sched1");
        await db.AddHostAsync("host-a", 100);
        var shared = HostStore(out var name);
        // As the scheduler host makes it (src/BlockStore.Scheduler/Program.cs).
        var queue = new SchedulerQueue(shared) { PlacementStore = shared.Lane("placement", genericPlans: true) };

        await queue.QueueDepthAsync();
        Assert.Equal(0, await SessionsNamedAsync($"{name}-placement"));

        await db.CreateAsync("lane", 3, 1);
        var outcomes = await queue.PlaceBatchAsync("sched1", 32);
        Assert.Equal(3, outcomes.Count);
        Assert.All(outcomes, o => Assert.Equal("host-a", o.Host));
        Assert.Equal(1, await SessionsNamedAsync($"{name}-placement"));
        Assert.Empty(await db.LedgerDriftAsync());
    }
}
