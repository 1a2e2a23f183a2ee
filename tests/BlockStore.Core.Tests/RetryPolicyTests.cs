using BlockStore.Core;

namespace BlockStore.Core.Tests;

public sealed class RetryPolicyTests
{
    private sealed class FixedRandom(double value) : Random
    {
        public override double NextDouble() => value;
    }

    [Theory]
    [InlineData(1, 2.0)]
    [InlineData(2, 4.0)]
    [InlineData(3, 8.0)]
    [InlineData(4, 16.0)]
    public void Backoff_doubles_per_attempt(int attempt, double seconds)
    {
        var d = new RetryPolicy(maxAttempts: 5).Decide(attempt, "boom", retryable: true, new FixedRandom(0.5));
        Assert.True(d.Retry);
        Assert.Equal(seconds, d.Delay.TotalSeconds, 3);
        Assert.Contains($"attempt {attempt} of 5 failed: boom", d.Message);
    }

    [Fact]
    public void Backoff_is_capped_and_jittered_within_20_percent()
    {
        var p = new RetryPolicy(maxAttempts: 20, baseDelaySeconds: 2, maxDelaySeconds: 60);
        Assert.Equal(48, p.Decide(10, "e", true, new FixedRandom(0)).Delay.TotalSeconds, 3);
        Assert.Equal(72, p.Decide(10, "e", true, new FixedRandom(1)).Delay.TotalSeconds, 3);
        var lows = Enumerable.Range(0, 200).Select(_ => p.Decide(1, "e", true, Random.Shared).Delay.TotalSeconds).ToList();
        Assert.All(lows, s => Assert.InRange(s, 1.6, 2.4));
        Assert.True(lows.Distinct().Count() > 1, "jitter must spread the retries");
    }

    [Fact]
    public void The_last_allowed_attempt_is_final_and_says_how_many_were_made()
    {
        var d = new RetryPolicy(maxAttempts: 3).Decide(3, "lvcreate not found", true, new FixedRandom(0.5));
        Assert.False(d.Retry);
        Assert.Equal("gave up after 3 attempt(s): lvcreate not found", d.Message);
    }

    [Fact]
    public void A_failure_that_cannot_pass_is_final_at_once()
    {
        var d = new RetryPolicy(maxAttempts: 5).Decide(1, "Insufficient free space", retryable: false, new FixedRandom(0.5));
        Assert.False(d.Retry);
        Assert.Equal("Insufficient free space", d.Message);
    }

    [Theory]
    [InlineData(3, false)]
    [InlineData(4, true)]
    public void A_claim_beyond_the_limit_is_exhausted(int attempts, bool exhausted) =>
        Assert.Equal(exhausted, new RetryPolicy(maxAttempts: 3).IsExhausted(attempts));
}
