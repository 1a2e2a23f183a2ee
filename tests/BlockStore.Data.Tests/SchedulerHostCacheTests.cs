using BlockStore.Core;

namespace BlockStore.Data.Tests;

/// <summary>
/// A scheduler keeps the volume hosts from an earlier batch (SchedulerQueue.HostCacheMaxAge) so
/// that a batch does not read and decode every host. The copy may be stale: these tests make it
/// stale on purpose (a change written in raw SQL, which moves none of the columns the copy's
/// signature watches) and show that it never places on a host that is no longer fit, that a host
/// fit again is still used rather than a request failed, and that a failure gives the same reason
/// as a scheduler without a copy.
/// </summary>
public sealed class SchedulerHostCacheTests(TestDatabase db) : IClassFixture<TestDatabase>
{
    // Longer than any test: only the signature or a failure makes the scheduler read afresh.
    private SchedulerQueue Cached() => new(db.Store) { HostCacheMaxAge = TimeSpan.FromMinutes(10) };

    [Theory]
    [InlineData("disabled = true, disabled_reason = 'maintenance'")]
    [InlineData("frozen = true")]
    [InlineData("healthy = false, health_reason = 'pool gone'")]
    [InlineData("heartbeat_at = now() - interval '1 hour'")]
    public async Task A_host_unfit_since_the_copy_was_read_gets_nothing(string change)
    {
        await db.ResetAsync();
        await db.AddSchedulerAsync("sched1");
        await db.AddHostAsync("host-a", 1000);
        await db.AddHostAsync("host-b", 100);
        // host-z is never fit (down and unhealthy): it turns healthy or up as host-a turns
        // unhealthy or down, so that the counts in the copy's signature do not move.
        await db.AddHostAsync("host-z", 5000);
        await db.ExecuteAsync("UPDATE bs.services SET healthy = false, heartbeat_at = now() - interval '1 hour' WHERE host = 'host-z'");
        var queue = Cached();
        await db.CreateAsync("warm", 1, 1);
        Assert.Equal("host-a", Assert.Single(await queue.PlaceBatchAsync("sched1", 32)).Host);

        // host-a, the most free, becomes unfit; the copy still says it is fine.
        await db.ExecuteAsync($"UPDATE bs.services SET {change} WHERE host = 'host-a'");
        if (change.StartsWith("healthy", StringComparison.Ordinal))
        {
            await db.ExecuteAsync("UPDATE bs.services SET healthy = true WHERE host = 'host-z'");
        }
        else if (change.StartsWith("heartbeat", StringComparison.Ordinal))
        {
            await db.ExecuteAsync("UPDATE bs.services SET heartbeat_at = now() WHERE host = 'host-z'");
        }

        await db.CreateAsync("after", 3, 1);
        var outcomes = await queue.PlaceBatchAsync("sched1", 32);
        Assert.Equal(3, outcomes.Count);
        Assert.All(outcomes, o => Assert.NotEqual("host-a", o.Host));
        Assert.All(outcomes, o => Assert.Equal("host-b", o.Host));
        Assert.Equal(1, await db.ScalarAsync<int>("SELECT count(*) FROM bs.volumes WHERE host = 'host-a'"));
        Assert.Empty(await db.LedgerDriftAsync());
    }

    [Fact]
    public async Task A_host_enabled_since_the_copy_was_read_still_takes_a_request_the_copy_would_fail()
    {
        await db.ResetAsync();
        await db.AddSchedulerAsync("sched1");
        await db.AddHostAsync("host-a", 100);
        await db.AddHostAsync("host-b", 1, zone: "other");
        var queue = Cached();
        await db.CreateAsync("warm", 1, 1, "other");
        Assert.Equal("host-b", Assert.Single(await queue.PlaceBatchAsync("sched1", 32)).Host);
        await db.ExecuteAsync("UPDATE bs.services SET disabled = true, disabled_reason = 'x' WHERE host = 'host-a'");
        // The copy still says host-a is enabled: the plan takes it, its lock reads it disabled, and
        // host-b is full, so this fails, and the copy now holds host-a as disabled.
        await db.CreateAsync("warm2", 1, 1);
        Assert.Null(Assert.Single(await queue.PlaceBatchAsync("sched1", 32)).Host);

        await db.ExecuteAsync("UPDATE bs.services SET disabled = false, disabled_reason = NULL WHERE host = 'host-a'");
        await db.CreateAsync("after", 2, 5);
        var outcomes = await queue.PlaceBatchAsync("sched1", 32);
        Assert.Equal(2, outcomes.Count);
        Assert.All(outcomes, o => Assert.Equal("host-a", o.Host));
        Assert.Empty(await db.LedgerDriftAsync());
    }

    [Fact]
    public async Task A_request_that_fails_with_a_copy_gets_the_same_reason_as_without_one()
    {
        await db.ResetAsync();
        await db.AddSchedulerAsync("sched1");
        await db.AddHostAsync("host-a", 10);
        await db.AddHostAsync("host-b", 10);
        var queue = Cached();
        await db.CreateAsync("warm", 1, 1);
        Assert.NotNull(Assert.Single(await queue.PlaceBatchAsync("sched1", 32)).Host);
        await db.ExecuteAsync("UPDATE bs.services SET disabled = true, disabled_reason = 'maintenance' WHERE host = 'host-b'");

        await db.CreateAsync("big", 1, 50);
        var withCopy = Assert.Single(await queue.PlaceBatchAsync("sched1", 32));
        await db.CreateAsync("big2", 1, 50);
        var without = Assert.Single(await new SchedulerQueue(db.Store) { HostCacheMaxAge = TimeSpan.Zero }.PlaceBatchAsync("sched1", 32));

        Assert.Null(withCopy.Host);
        Assert.Equal(without.Reason, withCopy.Reason);
        Assert.Contains("maintenance", withCopy.Reason, StringComparison.Ordinal);
        Assert.Equal(without.RejectionClasses, withCopy.RejectionClasses);
    }

    // A change to a host's capacity report moves nothing in the copy's signature: the copy holds
    // host-b at 100 GiB until it is read again.
    private async Task<SchedulerQueue> CopyWithHostBGrownAsync(TimeSpan refreshAfter)
    {
        await db.ResetAsync();
        await db.AddSchedulerAsync("sched1");
        await db.AddHostAsync("host-a", 1000);
        await db.AddHostAsync("host-b", 100);
        var queue = new SchedulerQueue(db.Store) { HostCacheMaxAge = TimeSpan.FromMinutes(10), HostCopyRefreshAfter = refreshAfter };
        await db.CreateAsync("warm", 1, 1);
        Assert.Equal("host-a", Assert.Single(await queue.PlaceBatchAsync("sched1", 32)).Host);
        await db.ExecuteAsync("UPDATE bs.services SET total_gib = 5000, free_gib = 5000 WHERE host = 'host-b'");
        return queue;
    }

    [Fact]
    public async Task A_refreshed_copy_plans_with_the_hosts_as_they_are_now()
    {
        var queue = await CopyWithHostBGrownAsync(TimeSpan.Zero);
        // With the copy as the first pass left it, the most free host is still host-a.
        await db.CreateAsync("stale", 1, 1);
        Assert.Equal("host-a", Assert.Single(await queue.PlaceBatchAsync("sched1", 32)).Host);

        await queue.RefreshHostCopyAsync();
        await db.CreateAsync("fresh", 1, 1);
        Assert.Equal("host-b", Assert.Single(await queue.PlaceBatchAsync("sched1", 32)).Host);
        Assert.Empty(await db.LedgerDriftAsync());
    }

    [Fact]
    public async Task A_copy_younger_than_the_refresh_age_is_not_read_again()
    {
        var queue = await CopyWithHostBGrownAsync(TimeSpan.FromMinutes(5));
        await queue.RefreshHostCopyAsync();
        await db.CreateAsync("after", 1, 1);
        Assert.Equal("host-a", Assert.Single(await queue.PlaceBatchAsync("sched1", 32)).Host);
    }

    [Fact]
    public async Task A_copy_that_expired_recently_is_read_again_between_requests_and_an_older_one_is_not()
    {
        await db.ResetAsync();
        await db.AddSchedulerAsync("sched1");
        await db.AddHostAsync("host-a", 1000);
        // Ages are only ever at least the time slept, so each window is far from the sleep that tests it.
        var recent = new SchedulerQueue(db.Store) { HostCacheMaxAge = TimeSpan.FromMilliseconds(100), HostCopyRefreshUntil = TimeSpan.FromMinutes(10) };
        var old = new SchedulerQueue(db.Store) { HostCacheMaxAge = TimeSpan.FromMilliseconds(100), HostCopyRefreshUntil = TimeSpan.FromMilliseconds(150) };
        foreach (var (queue, name) in new[] { (recent, "r"), (old, "o") })
        {
            await db.CreateAsync(name, 1, 1);
            Assert.Single(await queue.PlaceBatchAsync("sched1", 32));
        }

        var recentRead = recent.HostCopyReadAtTicks;
        var oldRead = old.HostCopyReadAtTicks;
        Assert.NotNull(recentRead);
        Assert.NotNull(oldRead);
        await Task.Delay(400);

        // Expired (400 ms > 100 ms) but within its window: read again. Past its window (150 ms): left alone.
        await recent.RefreshHostCopyAsync();
        await old.RefreshHostCopyAsync();
        Assert.True(recent.HostCopyReadAtTicks > recentRead, "an expired copy within the window was not read again");
        Assert.Equal(oldRead, old.HostCopyReadAtTicks);
    }

    // Two schedulers each keeping a copy, racing over the last free GiB of 1,000 hosts:
    // SchedulerConcurrencyTests.Two_schedulers_racing_over_the_last_free_GiB_of_1000_hosts_never_overcommit(keepsCopy: true).
}
