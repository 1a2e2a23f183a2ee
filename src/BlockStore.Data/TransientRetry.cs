namespace BlockStore.Data;

/// <summary>
/// The waits between attempts of a loop that rides out a passing failure: <see cref="First"/>
/// after the first failed attempt, then doubling (or, not <see cref="Doubling"/>, growing by
/// <see cref="First"/> each time), never more than <see cref="Max"/>.
/// </summary>
public sealed record Backoff(TimeSpan First, TimeSpan Max, bool Doubling = true)
{
    /// <summary>The wait after failed attempt <paramref name="attempt"/> (1-based).</summary>
    public TimeSpan After(int attempt)
    {
        var n = Math.Max(1, attempt);
        var ticks = Doubling ? First.Ticks * Math.Pow(2, Math.Min(n - 1, 30)) : (double)First.Ticks * n;
        return TimeSpan.FromTicks((long)Math.Min(ticks, Max.Ticks));
    }
}

/// <summary>
/// The loops of the hosts and the data layer that wait out a transient failure (a database
/// restart or failover, a deadlock, a row another scheduler holds), with every budget in one place
/// and why it is what it is. The agent's operation retries (attempts of an LVM or target change,
/// counted in the database) are a different thing: Core's RetryPolicy.
/// </summary>
public static class TransientRetry
{
    /// <summary>
    /// A host registering with its database at start (ServiceRuntime): a host started before its
    /// database (lab Up, systemd ordering, a restore) registers within seconds of it coming up,
    /// and a database that stays down is asked only every 5 s. No limit: a host without its
    /// database has nothing else to do.
    /// </summary>
    public static readonly Backoff Registration = new(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(5));

    /// <summary>
    /// The agent recording an operation's outcome (AgentWorker): the work is already done on the
    /// host and must reach the database, so no limit; a short outage (a failover) costs a fraction
    /// of a second, a long one is asked every 5 s.
    /// </summary>
    public static readonly Backoff OutcomeRecord = new(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5));

    /// <summary>
    /// The LISTEN connection reconnecting (NotificationListener): notifications only wake waiters
    /// early (polls are the guarantee), so reconnect soon after a restart, then every 5 s.
    /// </summary>
    public static readonly Backoff ListenerReconnect = new(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5));

    /// <summary>
    /// A transaction rolled back by a deadlock or serialization failure (StoreConnection.RunAsync):
    /// 20, 40, 60 ms, because the other side commits within milliseconds; after
    /// <see cref="ConflictAttempts"/> attempts the caller gets the error rather than a longer wait.
    /// </summary>
    public static readonly Backoff Conflict = new(TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(60), Doubling: false);

    /// <summary>Attempts of one transaction that keeps losing a deadlock or serialization conflict.</summary>
    public const int ConflictAttempts = 4;

    /// <summary>
    /// A placement batch that could decide only with hosts another scheduler holds
    /// (SchedulerQueue): that scheduler releases the ledger rows at its commit, within
    /// milliseconds, so 1 ms more each round up to 20 ms.
    /// </summary>
    public static readonly Backoff BusyHost = new(TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(20), Doubling: false);

    /// <summary>
    /// The agent's start-up recovery pass (AgentWorker): the agent runs no operation before it,
    /// so it is retried every second.
    /// </summary>
    public static readonly Backoff RecoveryPass = new(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));

    /// <summary>
    /// Recording the host's iSCSI capability (TargetService): attach requests are refused until it
    /// is recorded, but nothing waits on it within the second, so every 2 s.
    /// </summary>
    public static readonly Backoff CapabilityReport = new(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(2));

    /// <summary>
    /// Runs <paramref name="attempt"/> until it succeeds: after a failure <paramref name="isTransient"/>
    /// accepts, <paramref name="onFailure"/> is told (with the wait ahead) and the next attempt
    /// follows after <paramref name="backoff"/>'s wait. Any other failure, and cancellation, end it.
    /// </summary>
    public static async Task UntilDoneAsync(Func<Task> attempt, Func<Exception, bool> isTransient, Action<Exception, TimeSpan> onFailure,
        Backoff backoff, CancellationToken ct)
    {
        for (var n = 1; ; n++)
        {
            try
            {
                await attempt().ConfigureAwait(false);
                return;
            }
            catch (Exception e) when (isTransient(e))
            {
                var wait = backoff.After(n);
                onFailure(e, wait);
                await Task.Delay(wait, ct).ConfigureAwait(false);
            }
        }
    }
}
