using System.Collections.Concurrent;
using BlockStore.Core;

namespace BlockStore.Data.Tests;

/// <summary>The agent's side of the queue: claims, leases, order per volume, recovery.</summary>
public sealed class AgentQueueTests(TestDatabase db) : IClassFixture<TestDatabase>
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);

    private async Task<List<BlockVolume>> PlacedOnAsync(string host, int count, string prefix = "v")
    {
        await db.ResetAsync();
        await db.AddSchedulerAsync();
        await db.AddHostAsync(host, 10_000);
        var volumes = await db.CreateAsync(prefix, count, 1);
        Assert.Equal(count, (await db.PlaceAllAsync()).Count(o => o.Host == host));
        return volumes;
    }

    [Fact]
    public async Task Two_workers_of_one_host_claiming_concurrently_never_take_the_same_operation()
    {
        var volumes = await PlacedOnAsync("host-a", 60);
        var taken = new ConcurrentDictionary<long, string>();
        var duplicates = new ConcurrentBag<long>();
        using var start = new SemaphoreSlim(0, 2);

        async Task Worker(string owner)
        {
            var queue = db.Agent("host-a");
            await start.WaitAsync();
            while (true)
            {
                var claimed = await queue.ClaimAsync(owner, Lease, 2);
                if (claimed.Count == 0)
                {
                    return;
                }

                foreach (var op in claimed)
                {
                    if (!taken.TryAdd(op.Id, owner))
                    {
                        duplicates.Add(op.Id);
                    }

                    Assert.True(await queue.CompleteAsync(owner, op, null));
                }
            }
        }

        var workers = new[] { Task.Run(() => Worker("w1")), Task.Run(() => Worker("w2")) };
        start.Release(2);
        await Task.WhenAll(workers);

        Assert.Empty(duplicates);
        Assert.Equal(60, taken.Count);
        Assert.Equal(60, await db.ScalarAsync<int>("SELECT count(*) FROM bs.operations WHERE stage = 'succeeded' AND attempts = 1"));
        Assert.Equal(60, await db.ScalarAsync<int>("SELECT count(*) FROM bs.events WHERE kind = 'available'"));
        foreach (var v in volumes)
        {
            Assert.Equal(VolumeStatus.Available, await db.StatusAsync(v.Id));
        }
    }

    [Fact]
    public async Task An_agent_claims_only_its_own_host_operations()
    {
        await db.ResetAsync();
        await db.AddSchedulerAsync();
        await db.AddHostAsync("host-a", 100);
        await db.AddHostAsync("host-b", 50);
        await db.CreateAsync("v", 1, 1);
        var placed = Assert.Single(await db.PlaceAllAsync());
        Assert.Equal("host-a", placed.Host); // most free first

        Assert.Empty(await db.Agent("host-b").ClaimAsync("b", Lease, 8));
        Assert.Single(await db.Agent("host-a").ClaimAsync("a", Lease, 8));
    }

    [Fact]
    public async Task A_frozen_host_claims_nothing_until_thawed()
    {
        var volumes = await PlacedOnAsync("host-a", 2);
        await db.ExecuteAsync("UPDATE bs.services SET frozen = true WHERE host = 'host-a'");
        Assert.Empty(await db.Agent("host-a").ClaimAsync("a", Lease, 8));
        foreach (var v in volumes)
        {
            Assert.Equal(VolumeStatus.Creating, await db.StatusAsync(v.Id));
        }

        await db.ExecuteAsync("UPDATE bs.services SET frozen = false WHERE host = 'host-a'");
        Assert.Equal(2, await db.RunAgentAsync("host-a"));
    }

    [Fact]
    public async Task An_expired_lease_is_claimed_again_and_the_old_worker_cannot_complete()
    {
        await PlacedOnAsync("host-a", 1);
        var queue = db.Agent("host-a");
        var first = Assert.Single(await queue.ClaimAsync("old", Lease, 8));
        Assert.Empty(await queue.ClaimAsync("new", Lease, 8)); // leased: not claimable

        await db.ExecuteAsync("UPDATE bs.operations SET lease_expires_at = now() - interval '1 second'");
        var second = Assert.Single(await queue.ClaimAsync("new", Lease, 8));
        Assert.Equal(first.Id, second.Id);
        Assert.Equal(2, second.Attempts);

        Assert.False(await queue.CompleteAsync("old", first, "too late"));
        Assert.True(await queue.CompleteAsync("new", second, null));
        Assert.Equal(VolumeStatus.Available, await db.StatusAsync(first.VolumeId));
    }

    [Fact]
    public async Task A_renewed_lease_keeps_the_operation()
    {
        await PlacedOnAsync("host-a", 1);
        var queue = db.Agent("host-a");
        var op = Assert.Single(await queue.ClaimAsync("w", TimeSpan.FromSeconds(1), 8));
        Assert.Equal(1, await queue.RenewLeaseAsync("w", [op.Id], Lease));
        Assert.Equal(0, await queue.RenewLeaseAsync("someone-else", [op.Id], Lease));
        await Task.Delay(1500);
        Assert.Empty(await queue.ClaimAsync("other", Lease, 8));
    }

    [Fact]
    public async Task Recovery_at_start_returns_the_dead_process_operations_at_once()
    {
        await PlacedOnAsync("host-a", 3);
        var queue = db.Agent("host-a");
        Assert.Equal(3, (await queue.ClaimAsync("dead-process", Lease, 8)).Count);

        Assert.Equal(3, await queue.RecoverAsync("new-process"));
        Assert.Equal(3, await db.ScalarAsync<int>("SELECT count(*) FROM bs.events WHERE kind = 'recovered'"));
        Assert.Equal(3, await db.RunAgentAsync("host-a", "new-process"));
        Assert.Equal(3, await db.ScalarAsync<int>("SELECT count(*) FROM bs.volumes WHERE status = 'available'"));
    }

    [Fact]
    public async Task A_failed_operation_ends_in_error_with_the_message_as_reason()
    {
        var volumes = await PlacedOnAsync("host-a", 1);
        var queue = db.Agent("host-a");
        var op = Assert.Single(await queue.ClaimAsync("w", Lease, 8));
        Assert.True(await queue.CompleteAsync("w", op, "lvcreate failed (exit 5): no space"));

        var v = (await db.Volumes.GetAsync(volumes[0].Id))!;
        Assert.Equal(VolumeStatus.Error, v.Status);
        Assert.Equal("lvcreate failed (exit 5): no space", v.StatusReason);
        var last = (await db.Volumes.ListEventsAsync(v.Id, 10))[^1];
        Assert.Equal("error", last.Kind);
        Assert.Equal("host-a", last.Host);
        Assert.Contains("no space", last.Message);
    }
    [Fact]
    public async Task A_completion_writes_the_operation_the_status_the_event_and_the_notification_in_one_transaction()
    {
        // CompleteAsync sends these in batches (issue 11): each write must still be there, with the same values.
        var volumes = await PlacedOnAsync("host-a", 1);
        var id = volumes[0].Id;
        var queue = db.Agent("host-a");
        await using var listener = await db.Volumes.ListenAsync();
        var op = Assert.Single(await queue.ClaimAsync("w", Lease, 8));
        Assert.True(await queue.CompleteAsync("w", op, null, "lvcreate -n x -L 1g vg"));

        Assert.True(await listener.WaitAsync([id], TimeSpan.FromSeconds(10), default));
        var v = (await db.Volumes.GetAsync(id))!;
        Assert.Equal(VolumeStatus.Available, v.Status);
        Assert.Null(v.StatusReason);
        Assert.Equal("succeeded|true|true|", await db.ScalarAsync<string>(
            $"SELECT stage || '|' || (finished_at IS NOT NULL) || '|' || (lease_expires_at IS NULL) || '|' || coalesce(error, '') FROM bs.operations WHERE id = {op.Id}"));
        var last = (await db.Volumes.ListEventsAsync(id, 10))[^1];
        Assert.Equal(("available", "host-a", "created: lvcreate -n x -L 1g vg"), (last.Kind, last.Host, last.Message));
        Assert.Equal("volume", await db.ScalarAsync<string>($"SELECT service FROM bs.events WHERE id = {last.Id}"));

        await db.Volumes.RequestDeleteAsync(id);
        var delete = Assert.Single(await queue.ClaimAsync("w", Lease, 8));
        Assert.True(await queue.CompleteAsync("w", delete, null, "lvremove vg/x"));
        Assert.True(await listener.WaitAsync([id], TimeSpan.FromSeconds(10), default));
        Assert.Equal(VolumeStatus.Deleted, await db.StatusAsync(id));
        Assert.Equal(1, await db.ScalarAsync<int>($"SELECT count(*) FROM bs.volumes WHERE id = '{id}' AND deleted_at IS NOT NULL"));
        last = (await db.Volumes.ListEventsAsync(id, 10))[^1];
        Assert.Equal(("deleted", "host-a", "deleted: lvremove vg/x"), (last.Kind, last.Host, last.Message));
        Assert.Equal("volume", await db.ScalarAsync<string>($"SELECT service FROM bs.events WHERE id = {last.Id}"));
    }

    [Fact]
    public async Task A_completion_after_the_lease_was_lost_returns_false_writes_nothing_and_leaves_nothing_locked()
    {
        var volumes = await PlacedOnAsync("host-a", 1);
        var id = volumes[0].Id;
        var queue = db.Agent("host-a");
        var old = Assert.Single(await queue.ClaimAsync("old", Lease, 8));
        await db.ExecuteAsync("UPDATE bs.operations SET lease_expires_at = now() - interval '1 second'");
        var taken = Assert.Single(await queue.ClaimAsync("new", Lease, 8));
        const string Rows = "SELECT (SELECT count(*) FROM bs.events)::text || '|' || v.status || '|' || v.updated_at::text || '|' || o.stage || '|' || o.lease_owner " +
            "FROM bs.volumes v JOIN bs.operations o ON o.volume_id = v.id";
        var before = await db.ScalarAsync<string>(Rows);
        await using var listener = await db.Volumes.ListenAsync();

        Assert.False(await queue.CompleteAsync("old", old, "too late"));

        Assert.Equal(before, await db.ScalarAsync<string>(Rows));
        Assert.False(await listener.WaitAsync([id], TimeSpan.FromMilliseconds(300), default));
        // The volume row was locked in the same round trip as the finish: the rollback released it.
        Assert.Equal(1, await db.ScalarAsync<long>($"SELECT count(*) FROM (SELECT 1 FROM bs.volumes WHERE id = '{id}' FOR UPDATE NOWAIT) l"));
        Assert.True(await queue.CompleteAsync("new", taken, null));
        Assert.Equal(VolumeStatus.Available, await db.StatusAsync(id));
    }
}
