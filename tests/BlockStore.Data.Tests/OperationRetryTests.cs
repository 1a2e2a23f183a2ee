using BlockStore.Core;

namespace BlockStore.Data.Tests;

/// <summary>
/// Poison operations (issue 17): a failed attempt given back to the queue waits for its next
/// attempt time, is claimed again afterwards with its attempt counted, and shows as an event;
/// a worker that died mid-attempt has that attempt counted once when its lease runs out.
/// </summary>
public sealed class OperationRetryTests(TestDatabase db) : IClassFixture<TestDatabase>
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);

    private async Task<BlockVolume> PlacedAsync()
    {
        await db.ResetAsync();
        await db.AddSchedulerAsync();
        await db.AddHostAsync("host-a", 100);
        var v = (await db.CreateAsync("r", 1, 1))[0];
        await db.PlaceAllAsync();
        return v;
    }

    [Fact]
    public async Task A_retried_attempt_waits_for_its_time_then_is_claimed_again_and_counted()
    {
        var v = await PlacedAsync();
        var queue = db.Agent("host-a");
        var op = (await queue.ClaimAsync("a", Lease, 8)).Single();
        Assert.Equal(1, op.Attempts);

        Assert.True(await queue.RetryLaterAsync("a", op, TimeSpan.FromMinutes(10), "attempt 1 of 5 failed: lvcreate not found; next attempt in 2 s"));
        Assert.Equal("scheduled", await db.ScalarAsync<string>($"SELECT stage FROM bs.operations WHERE id = {op.Id}"));
        Assert.True(await db.ScalarAsync<bool>($"SELECT next_attempt_at > now() + interval '9 minutes' FROM bs.operations WHERE id = {op.Id}"));
        Assert.Equal(VolumeStatus.Creating, await db.StatusAsync(v.Id));
        Assert.Empty(await queue.ClaimAsync("b", Lease, 8));   // not before its time
        Assert.Equal(1, await db.ScalarAsync<long>($"SELECT count(*) FROM bs.events WHERE volume_id = '{v.Id}' AND kind = 'retry' AND message LIKE 'create: attempt 1 of 5 failed: lvcreate not found%'"));

        await db.ExecuteAsync($"UPDATE bs.operations SET next_attempt_at = now() - interval '1 second' WHERE id = {op.Id}");
        var again = (await queue.ClaimAsync("b", Lease, 8)).Single();
        Assert.Equal(op.Id, again.Id);
        Assert.Equal(2, again.Attempts);
    }

    [Fact]
    public async Task Only_the_lease_holder_can_give_an_attempt_back()
    {
        await PlacedAsync();
        var queue = db.Agent("host-a");
        var op = (await queue.ClaimAsync("a", Lease, 8)).Single();
        Assert.False(await queue.RetryLaterAsync("someone-else", op, TimeSpan.FromSeconds(1), "x"));
        Assert.Equal("running", await db.ScalarAsync<string>($"SELECT stage FROM bs.operations WHERE id = {op.Id}"));
    }

    [Fact]
    public async Task A_worker_that_died_mid_attempt_has_that_attempt_counted_once()
    {
        await PlacedAsync();
        var queue = db.Agent("host-a");
        var op = (await queue.ClaimAsync("dead", Lease, 8)).Single();
        // Nobody renews: the lease runs out; the next claim takes it over as attempt 2 (not 1, not 3).
        Assert.Empty(await queue.ClaimAsync("b", Lease, 8));
        await db.ExecuteAsync($"UPDATE bs.operations SET lease_expires_at = now() - interval '1 second' WHERE id = {op.Id}");
        var taken = (await queue.ClaimAsync("b", Lease, 8)).Single();
        Assert.Equal(2, taken.Attempts);
        Assert.Empty(await queue.ClaimAsync("c", Lease, 8));
        Assert.True(new RetryPolicy(maxAttempts: 1).IsExhausted(taken.Attempts));
        Assert.False(new RetryPolicy(maxAttempts: 2).IsExhausted(taken.Attempts));
    }
}
