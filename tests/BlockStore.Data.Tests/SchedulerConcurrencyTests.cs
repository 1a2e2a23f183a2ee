using BlockStore.Core;

namespace BlockStore.Data.Tests;

/// <summary>
/// Two schedulers placing the same burst at the same time, on hosts too small for all of it: no
/// operation is taken twice, and no host holds more than its capacity.
/// </summary>
public sealed class SchedulerConcurrencyTests(TestDatabase db) : IClassFixture<TestDatabase>
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    // Each scheduler with its own tie-break (host-a and host-b stay equally free within the band).
    [InlineData(6, true)]
    [InlineData(7, true)]
    public async Task Two_schedulers_never_take_the_same_operation_and_never_overcommit(int round, bool spread = false)
    {
        await db.ResetAsync();
        await db.AddSchedulerAsync("sched1");
        await db.AddSchedulerAsync("sched2");
        await db.AddHostAsync("host-a", 20);
        await db.AddHostAsync("host-b", 20);
        // 40 GiB of room for 60 GiB of requests: a third must fail, and contention is on the last GiB.
        var volumes = await db.CreateAsync($"r{round}", 60, 1);

        using var start = new SemaphoreSlim(0, 2);
        async Task<List<PlacementOutcome>> Scheduler(string name)
        {
            var queue = spread ? new SchedulerQueue(db.Store) { Spread = PlacementSpread.For(name, 10) } : db.Scheduler;
            await start.WaitAsync();
            var mine = new List<PlacementOutcome>();
            while (true)
            {
                // Small batches, so the two interleave many times.
                var outcomes = await queue.PlaceBatchAsync(name, 3);
                mine.AddRange(outcomes);
                if (outcomes.Count == 0)
                {
                    return mine;
                }
            }
        }

        var one = Task.Run(() => Scheduler("sched1"));
        var two = Task.Run(() => Scheduler("sched2"));
        start.Release(2);
        var results = await Task.WhenAll(one, two);
        var all = results.SelectMany(r => r).ToList();

        // Every operation decided exactly once, by one scheduler.
        Assert.Equal(60, all.Count);
        Assert.Equal(60, all.Select(o => o.OperationId).Distinct().Count());
        Assert.Empty(results[0].Select(o => o.OperationId).Intersect(results[1].Select(o => o.OperationId)));
        Assert.Equal(60, await db.ScalarAsync<int>("SELECT count(*) FROM bs.events WHERE kind IN ('scheduled', 'error')"));

        // Exactly the capacity was placed, never more on a host.
        Assert.Equal(40, all.Count(o => o.Host is not null));
        var provisioned = await db.ProvisionedAsync();
        Assert.True(provisioned["host-a"] <= 20, $"host-a holds {provisioned["host-a"]} GiB of 20");
        Assert.True(provisioned["host-b"] <= 20, $"host-b holds {provisioned["host-b"]} GiB of 20");
        Assert.Equal(20, await db.ScalarAsync<int>("SELECT count(*) FROM bs.volumes WHERE status = 'error' AND host IS NULL"));
        Assert.Empty(await db.LedgerDriftAsync());
        foreach (var v in volumes)
        {
            var status = await db.StatusAsync(v.Id);
            Assert.Contains(status, new[] { VolumeStatus.Creating, VolumeStatus.Error });
        }
    }

    [Theory]
    [InlineData(40, false)]
    [InlineData(256, false)] // the scheduler's default batch (SchedulerOptions.BatchSize)
    // Each scheduler keeping its copy of the hosts across its batches, as the scheduler host does
    // (SchedulerQueue.HostCacheMaxAge; longer than the test, so the copy goes stale as the other places).
    [InlineData(40, true)]
    [InlineData(256, true)]
    // Each with its own tie-break among the equally free hosts (SchedulerQueue.Spread, seeded by
    // its name, as the scheduler host sets it): they plan onto different hosts, same rules.
    [InlineData(40, false, true)]
    [InlineData(256, true, true)]
    // Each placing through a lane of its own with generic plans, as the scheduler host does
    // (StoreConnection.Lane): the same statements, planned once.
    [InlineData(256, true, false, true)]
    [InlineData(40, false, false, true)]
    public async Task Two_schedulers_racing_over_the_last_free_GiB_of_1000_hosts_never_overcommit(int batch, bool keepsCopy, bool spread = false, bool lane = false)
    {
        await db.ResetAsync();
        await db.AddSchedulerAsync("sched1");
        await db.AddSchedulerAsync("sched2");
        // 1,000 hosts of 2 GiB, each already holding a 1 GiB volume: 1,000 GiB free, one per host.
        await db.AddHostsAsync(1000, 2);
        await db.ExecuteAsync(
            "INSERT INTO bs.volumes (id, name, size_gib, status, host, zone) " +
            "SELECT gen_random_uuid(), 'old-' || host, 1, 'available', host, zone FROM bs.services WHERE service = 'volume'");
        // 1,050 requests of 1 GiB, queued as New-BlockVolume queues them (volume + pending create).
        await db.ExecuteAsync(
            "WITH v AS (INSERT INTO bs.volumes (id, name, size_gib, status) " +
            "  SELECT gen_random_uuid(), 'race-' || i, 1, 'creating' FROM generate_series(1, 1050) i RETURNING id, name) " +
            "INSERT INTO bs.operations (volume_id, kind, stage) SELECT id, 'create', 'pending' FROM v ORDER BY name");

        using var start = new SemaphoreSlim(0, 2);
        async Task<List<PlacementOutcome>> Scheduler(string name)
        {
            var kept = keepsCopy || spread || lane
                ? new SchedulerQueue(db.Store)
                {
                    HostCacheMaxAge = keepsCopy ? TimeSpan.FromMinutes(10) : TimeSpan.Zero,
                    Spread = spread ? PlacementSpread.For(name) : null,
                    PlacementStore = lane ? db.Store.Lane($"placement-{name}", genericPlans: true) : null,
                }
                : null;
            await start.WaitAsync();
            var mine = new List<PlacementOutcome>();
            while (true)
            {
                // Without a copy: a new queue per batch, or one that keeps none (HostCacheMaxAge 0): every host read.
                var outcomes = await (kept ?? db.Scheduler).PlaceBatchAsync(name, batch);
                mine.AddRange(outcomes);
                if (outcomes.Count == 0)
                {
                    return mine;
                }
            }
        }

        var one = Task.Run(() => Scheduler("sched1"));
        var two = Task.Run(() => Scheduler("sched2"));
        start.Release(2);
        var results = await Task.WhenAll(one, two);
        var all = results.SelectMany(r => r).ToList();

        Assert.Equal(1050, all.Count);
        Assert.Equal(1050, all.Select(o => o.OperationId).Distinct().Count());
        Assert.Equal(1000, all.Count(o => o.Host is not null));
        Assert.Equal(1000, all.Where(o => o.Host is not null).Select(o => o.Host).Distinct().Count());
        Assert.Equal(0, await db.ScalarAsync<int>("SELECT count(*) FROM bs.operations WHERE stage = 'pending'"));
        Assert.Equal(2, await db.ScalarAsync<int>("SELECT max(provisioned_gib) FROM bs.capacity_held"));
        Assert.Equal(2000, await db.ScalarAsync<int>("SELECT sum(provisioned_gib) FROM bs.capacity_ledger"));
        Assert.Empty(await db.LedgerDriftAsync());
        Assert.Equal(50, await db.ScalarAsync<int>("SELECT count(*) FROM bs.volumes WHERE status = 'error' AND host IS NULL"));
        Assert.True(results[0].Count > 0 && results[1].Count > 0, $"both schedulers placed: {results[0].Count} and {results[1].Count}");
    }

    [Fact]
    public async Task Scheduler_enabled_flag_is_read_from_the_store_and_queued_requests_wait_for_it()
    {
        await db.ResetAsync();
        await db.AddSchedulerAsync("sched1");
        await db.AddHostAsync("host-a", 100);
        await db.CreateAsync("wait", 3, 1);
        await db.ExecuteAsync("UPDATE bs.services SET disabled = true WHERE service = 'scheduler'");

        Assert.False(await db.ScalarAsync<bool>("SELECT NOT disabled FROM bs.services WHERE host = 'sched1' AND service = 'scheduler'"));
        Assert.Equal(3, await db.ScalarAsync<int>("SELECT count(*) FROM bs.operations WHERE stage = 'pending'"));

        await db.ExecuteAsync("UPDATE bs.services SET disabled = false WHERE service = 'scheduler'");
        Assert.True(await db.ScalarAsync<bool>("SELECT NOT disabled FROM bs.services WHERE host = 'sched1' AND service = 'scheduler'"));
        Assert.Equal(3, (await db.PlaceAllAsync()).Count(o => o.Host == "host-a"));
    }

    [Fact]
    public async Task A_batch_says_whether_its_scheduler_is_enabled_and_a_disabled_one_claims_nothing()
    {
        // The scheduler's worker reads the flag only from the batch (no round trip of its own).
        await db.ResetAsync();
        await db.AddSchedulerAsync("sched1");
        await db.AddHostAsync("host-a", 100);
        await db.CreateAsync("flag", 2, 1);
        await db.ExecuteAsync("UPDATE bs.services SET disabled = true WHERE host = 'sched1' AND service = 'scheduler'");

        var disabled = await db.Scheduler.PlaceBatchCheckedAsync("sched1", 32);
        Assert.False(disabled.SchedulerEnabled);
        Assert.Empty(disabled.Outcomes);
        Assert.Equal(2, await db.ScalarAsync<int>("SELECT count(*) FROM bs.operations WHERE stage = 'pending'"));

        // A scheduler without a service row is not enabled either (nothing claimed, as before).
        var unknown = await db.Scheduler.PlaceBatchCheckedAsync("no-such-scheduler", 32);
        Assert.False(unknown.SchedulerEnabled);
        Assert.Empty(unknown.Outcomes);

        await db.ExecuteAsync("UPDATE bs.services SET disabled = false WHERE host = 'sched1' AND service = 'scheduler'");
        var enabled = await db.Scheduler.PlaceBatchCheckedAsync("sched1", 32);
        Assert.True(enabled.SchedulerEnabled);
        Assert.Equal(2, enabled.Outcomes.Count(o => o.Host == "host-a"));

        // Enabled with nothing left to place: an empty batch, still enabled.
        var idle = await db.Scheduler.PlaceBatchCheckedAsync("sched1", 32);
        Assert.True(idle.SchedulerEnabled);
        Assert.Empty(idle.Outcomes);
    }
}
