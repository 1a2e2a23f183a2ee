using BlockStore.Core;

namespace BlockStore.Data.Tests;

/// <summary>The -Wait wake-up: a final status written by an agent wakes the waiter; timeouts end the wait.</summary>
public sealed class VolumeStatusListenerTests(TestDatabase db) : IClassFixture<TestDatabase>
{
    [Fact]
    public async Task A_completed_operation_wakes_the_waiter_of_that_volume_only()
    {
        await db.ResetAsync();
        await db.AddSchedulerAsync();
        await db.AddHostAsync("host-a", 100);
        var mine = (await db.CreateAsync("mine", 1, 1))[0];
        var other = (await db.CreateAsync("other", 1, 1))[0];
        await db.PlaceAllAsync();

        await using var listener = await db.Volumes.ListenAsync();
        var queue = db.Agent("host-a");
        var ops = await queue.ClaimAsync("a", TimeSpan.FromSeconds(30), 8);
        Assert.True(await queue.CompleteAsync("a", ops.Single(o => o.VolumeId == other.Id), null));
        Assert.False(await listener.WaitAsync([mine.Id], TimeSpan.FromMilliseconds(300), default));

        Assert.True(await queue.CompleteAsync("a", ops.Single(o => o.VolumeId == mine.Id), null));
        // True only when the notification for this volume came (a timeout returns false), so no
        // wall-clock bound is needed here; how fast a -Wait wakes is docs/benchmarks.md's (Lifecycle).
        Assert.True(await listener.WaitAsync([mine.Id], TimeSpan.FromSeconds(10), default));
    }

    [Fact]
    public async Task A_request_that_listens_is_woken_by_changes_made_before_anyone_waits_and_by_later_requests()
    {
        await db.ResetAsync();
        await db.AddSchedulerAsync();
        await db.AddHostAsync("host-a", 100);
        // New-BlockVolume -Wait: the LISTEN commits with the request, on the request's connection.
        var (first, listener) = await db.Volumes.CreateListeningAsync("listened", 1, null, null, false, null, null);
        await using var _ = listener;
        Assert.Equal(VolumeStatus.Creating, first.Status);
        // A later request of the same pipeline goes the usual way, after the LISTEN.
        var second = await db.Volumes.CreateAsync("later", 1, null, null);
        await db.PlaceAllAsync();
        var queue = db.Agent("host-a");
        var ops = await queue.ClaimAsync("a", TimeSpan.FromSeconds(30), 8);

        // Completed before the wait starts: the notification waits on the connection, not lost.
        Assert.True(await queue.CompleteAsync("a", ops.Single(o => o.VolumeId == first.Id), null));
        Assert.True(await listener.WaitAsync([first.Id], TimeSpan.FromSeconds(10), default));
        Assert.False(await listener.WaitAsync([second.Id], TimeSpan.FromMilliseconds(300), default));
        Assert.True(await queue.CompleteAsync("a", ops.Single(o => o.VolumeId == second.Id), null));
        Assert.True(await listener.WaitAsync([second.Id], TimeSpan.FromSeconds(10), default));
        Assert.Equal(VolumeStatus.Available, await db.StatusAsync(first.Id));
    }

    [Fact]
    public async Task A_request_that_listens_is_refused_as_the_plain_one_and_writes_nothing()
    {
        await db.ResetAsync();
        await db.AddSchedulerAsync();
        await db.AddHostAsync("host-a", 100);
        await db.Volumes.CreateAsync("taken", 1, null, null);
        var volumes = await db.ScalarAsync<long>("SELECT count(*) FROM bs.volumes");
        var inUse = await Assert.ThrowsAsync<BlockStoreException>(() => db.Volumes.CreateListeningAsync("taken", 1, null, null, false, null, null));
        Assert.Equal(ErrorIds.VolumeNameInUse, inUse.ErrorId);
        var badZone = await Assert.ThrowsAsync<BlockStoreException>(() => db.Volumes.CreateListeningAsync("x", 1, "nowhere", null, false, null, null));
        Assert.Equal(ErrorIds.InvalidAvailabilityZone, badZone.ErrorId);
        await db.ExecuteAsync("UPDATE bs.services SET heartbeat_at = now() - interval '1 hour' WHERE service = 'scheduler'");
        var noScheduler = await Assert.ThrowsAsync<BlockStoreException>(() => db.Volumes.CreateListeningAsync("y", 1, null, null, false, null, null));
        Assert.Equal(ErrorIds.SchedulerUnavailable, noScheduler.ErrorId);
        Assert.Equal(volumes, await db.ScalarAsync<long>("SELECT count(*) FROM bs.volumes"));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.4)] // under a millisecond: must not turn into "wait forever"
    [InlineData(1.0)]
    [InlineData(50.0)]
    public async Task A_wait_without_news_ends_after_its_timeout(double milliseconds)
    {
        await using var listener = await db.Volumes.ListenAsync();
        var wait = listener.WaitAsync([Guid.NewGuid()], TimeSpan.FromMilliseconds(milliseconds), default);
        var finished = await Task.WhenAny(wait, Task.Delay(TimeSpan.FromSeconds(10)));
        Assert.Same(wait, finished);
        Assert.False(await wait);
    }
}
