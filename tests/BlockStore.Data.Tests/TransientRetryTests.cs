namespace BlockStore.Data.Tests;

/// <summary>The transient-retry budgets and loop (no database needed).</summary>
public class TransientRetryTests
{
    private static double[] Waits(Backoff b, int n) => Enumerable.Range(1, n).Select(i => b.After(i).TotalMilliseconds).ToArray();

    [Fact]
    public void Doubling_waits_are_capped()
    {
        Assert.Equal([500, 1000, 2000, 4000, 5000, 5000], Waits(TransientRetry.Registration, 6));
        Assert.Equal([200, 400, 800, 1600, 3200, 5000], Waits(TransientRetry.OutcomeRecord, 6));
        Assert.Equal([2000, 2000], Waits(TransientRetry.CapabilityReport, 2));
    }

    [Fact]
    public void Linear_waits_grow_by_the_first_and_are_capped()
    {
        Assert.Equal([20, 40, 60, 60], Waits(TransientRetry.Conflict, 4));
        Assert.Equal([1, 2, 3], Waits(TransientRetry.BusyHost, 3));
        Assert.Equal(20, TransientRetry.BusyHost.After(100).TotalMilliseconds);
    }

    [Fact]
    public async Task Transient_failures_are_retried_until_the_attempt_succeeds()
    {
        var attempts = 0;
        var told = new List<TimeSpan>();
        await TransientRetry.UntilDoneAsync(() => ++attempts < 3 ? throw new TimeoutException() : Task.CompletedTask,
            e => e is TimeoutException, (_, wait) => told.Add(wait), new Backoff(TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(2)), default);
        Assert.Equal(3, attempts);
        Assert.Equal([TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(2)], told);
    }

    [Fact]
    public async Task Other_failures_end_the_loop()
    {
        var attempts = 0;
        await Assert.ThrowsAsync<InvalidOperationException>(() => TransientRetry.UntilDoneAsync(
            () => { attempts++; throw new InvalidOperationException(); },
            e => e is TimeoutException, (_, _) => { }, TransientRetry.RecoveryPass, default));
        Assert.Equal(1, attempts);
    }
}
