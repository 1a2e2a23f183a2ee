namespace BlockStore.Core;

/// <summary>What to do after an attempt of an operation failed.</summary>
public sealed record RetryDecision(bool Retry, TimeSpan Delay, string Message);

/// <summary>
/// Attempts and backoff of the agent's operations (issue 17), as the job queues we measure
/// ourselves against do it (River, graphile-worker): a limited number of attempts per operation,
/// exponential backoff with jitter between them, and a final error that says how many were made.
/// Pure: the caller passes the attempt number (the operation's claims so far) and a random source.
/// </summary>
public sealed class RetryPolicy(int maxAttempts = 5, double baseDelaySeconds = 2, double maxDelaySeconds = 60)
{
    public int MaxAttempts { get; } = Math.Max(1, maxAttempts);

    /// <summary>
    /// After attempt <paramref name="attempt"/> (1-based) failed with <paramref name="error"/>:
    /// retry after base x 2^(attempt-1), capped, with +-20 % jitter (so agents that failed
    /// together do not retry together), unless it was the last attempt or <paramref name="retryable"/> is false.
    /// </summary>
    public RetryDecision Decide(int attempt, string error, bool retryable, Random random)
    {
        if (!retryable)
        {
            return new RetryDecision(false, TimeSpan.Zero, error);
        }

        if (attempt >= MaxAttempts)
        {
            return new RetryDecision(false, TimeSpan.Zero, $"gave up after {attempt} attempt(s): {error}");
        }

        var seconds = Math.Min(maxDelaySeconds, baseDelaySeconds * Math.Pow(2, Math.Max(0, attempt - 1)));
        seconds *= 0.8 + (0.4 * random.NextDouble());
        return new RetryDecision(true, TimeSpan.FromSeconds(seconds),
            $"attempt {attempt} of {MaxAttempts} failed: {error}; next attempt in {seconds:0.#} s");
    }

    /// <summary>
    /// A claim beyond the limit: the earlier attempts ended without any result (the agent died
    /// during each, e.g. killed by the operation itself), so it is not run again.
    /// </summary>
    public bool IsExhausted(int attempts) => attempts > MaxAttempts;
}
