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
