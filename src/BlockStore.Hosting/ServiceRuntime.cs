using BlockStore.Core;
using BlockStore.Data;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BlockStore.Hosting;

/// <summary>
/// Start-up and control for a BlockStore service process: migrate the schema, register the
/// service row (retrying while the database is unreachable), then listen for control
/// notifications (log level, enable/disable/freeze) and wake-ups for the worker. The listener
/// reconnects with backoff; after each reconnect the worker is woken to catch up on anything missed.
/// </summary>
public sealed class ServiceRuntime(
    StoreConnection store,
    ServiceRegistry registry,
    ServiceIdentity identity,
    IOptions<BlockStoreOptions> options,
    LogLevelSwitch levelSwitch,
    WorkSignal signal,
    WakeChannels wakeChannels,
    ILogger<ServiceRuntime> logger) : BackgroundService
{
    private readonly TaskCompletionSource _registered = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Control notifications start ApplyControlAsync without awaiting it. Two quick changes
    // (Debug, then back to Information) must not apply out of order, leaving the older level:
    // one at a time, each reads the row after the previous one applied.
    private readonly SemaphoreSlim _applying = new(1, 1);

    /// <summary>Completes once the service row exists; workers wait for it before claiming.</summary>
    public Task Registered => _registered.Task;

    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        await RegisterWithRetryAsync(ct);

        var listener = new NotificationListener(store, [Channels.Control, .. wakeChannels.Names]);
        var wasDown = false;
        listener.Notified += (channel, payload) =>
        {
            if (channel == Channels.Control)
            {
                if (payload == $"{identity.Host}/{identity.Service}")
                {
                    _ = ApplyControlAsync(ct);
                }

                return;
            }

            if (wakeChannels.Accepts(channel, payload))
            {
                signal.Set();
            }
        };
        listener.ConnectionChanged += error =>
        {
            if (error is null)
            {
                if (wasDown)
                {
                    logger.LogInformation("Notification connection restored; catching up");
                    BlockStoreMetrics.DatabaseReconnects.Add(1, new KeyValuePair<string, object?>("via", "notifications"));
                    _ = ApplyControlAsync(ct);
                }

                wasDown = false;
                signal.Set();
            }
            else if (!wasDown)
            {
                wasDown = true;
                logger.LogWarning("Notification connection lost ({Message}); reconnecting with backoff", error.Message);
                BlockStoreMetrics.DatabaseFailures.Add(1, new KeyValuePair<string, object?>("via", "notifications"));
            }
        };

        await listener.RunAsync(ct);
    }

    private Task RegisterWithRetryAsync(CancellationToken ct) =>
        TransientRetry.UntilDoneAsync(() => RegisterOnceAsync(ct), e => e is not OperationCanceledException,
            (e, wait) => logger.LogWarning("Cannot register with the database yet ({Message}); retrying in {Delay} s", e.Message, wait.TotalSeconds),
            TransientRetry.Registration, ct);

    private async Task RegisterOnceAsync(CancellationToken ct)
    {
        if (options.Value.MigrateOnStart)
        {
            var applied = SchemaMigrator.Migrate(store.ConnectionString);
            if (applied.Count > 0)
            {
                logger.LogInformation("Applied schema migrations: {Scripts}", string.Join(", ", applied));
            }
        }

        await registry.RegisterAsync(identity.Host, identity.Service, identity.Zone, identity.Version,
            MetricsServer.AdvertisedMetricsUrlOf(options.Value), ct);
        await ApplyControlAsync(ct);
        logger.LogInformation("{Service} service on {Host} registered (zone {Zone}, version {Version}) against {Store}",
            identity.Service, identity.Host, identity.Zone, identity.Version, store.DisplayName);
        if (await store.PrivilegeWarningAsync(ct) is { } why)
        {
            logger.LogWarning("The database role {Role} {Why}: row-level security does not limit this process. " +
                "Run hosts with their own roles (Register-BlockVolumeHost, bs_scheduler); see docs/security.md", store.Describe().Username, why);
        }

        if (await store.DurabilityWarningAsync(ct) is { } risk)
        {
            // The promise "an accepted request is never lost" rests on the database keeping
            // what it acknowledged; say so at start, where operators look (docs/operations.md).
            logger.LogWarning("The database {Store} runs with {Risk}. See docs/operations.md", store.DisplayName, risk);
        }

        _registered.TrySetResult();
    }

    /// <summary>Re-reads this service's row and applies its log level.</summary>
    private async Task ApplyControlAsync(CancellationToken ct)
    {
        await _applying.WaitAsync(ct);
        try
        {
            var row = await registry.GetAsync(identity.Host, identity.Service, ct);
            if (row is null)
            {
                return;
            }

            var level = Enum.Parse<LogLevel>(Validation.LogLevel(row.LogLevel));
            if (level != levelSwitch.Level)
            {
                // Logged at Warning so the change itself is visible whatever the new level is.
                logger.LogWarning("Log level changed from {Old} to {New}", levelSwitch.Level, level);
                levelSwitch.Level = level;
            }

            signal.Set();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning("Cannot read service settings: {Message}", e.Message);
        }
        finally
        {
            _applying.Release();
        }
    }
}

/// <summary>Which notifications wake this host's worker.</summary>
public sealed class WakeChannels(IReadOnlyList<string> names, Func<string, string, bool> accepts)
{
    public IReadOnlyList<string> Names { get; } = names;

    public bool Accepts(string channel, string payload) => accepts(channel, payload);
}
