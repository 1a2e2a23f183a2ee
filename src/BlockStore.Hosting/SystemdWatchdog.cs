using BlockStore.Data;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;

namespace BlockStore.Hosting;

/// <summary>
/// systemd's watchdog (the unit's WatchdogSec=), fed by the host's own liveness: the heartbeat job
/// calls <see cref="Alive"/> after each heartbeat that reached the database, with the capacity
/// report it sent, and the watchdog is told WATCHDOG=1 only when that report (if any) is healthy,
/// i.e. for an agent, when its volume group (or thin pool) is there. A host that cannot reach the
/// database, or whose heartbeat hangs, or an agent without its VG, stops feeding the watchdog and
/// systemd restarts it after WatchdogSec (docs/operations.md, "Packages and systemd").
/// Enabled as sd_watchdog_enabled(3) does it: NOTIFY_SOCKET and WATCHDOG_USEC set, and
/// WATCHDOG_PID, when set, naming this process (so a child that inherited them stays quiet).
/// Outside systemd none of that is set, and this does nothing.
/// </summary>
public sealed class SystemdWatchdog
{
    private readonly ISystemdNotifier _notifier;
    private bool? _lastLive;

    public SystemdWatchdog(ISystemdNotifier notifier) : this(notifier, Environment.GetEnvironmentVariable, Environment.ProcessId)
    {
    }

    public SystemdWatchdog(ISystemdNotifier notifier, Func<string, string?> environment, int processId)
    {
        _notifier = notifier;
        Interval = ReadInterval(environment, processId);
    }

    /// <summary>The unit's WatchdogSec, when systemd asks this process to feed a watchdog.</summary>
    public TimeSpan? Interval { get; }

    public bool Enabled => Interval is not null && _notifier.IsEnabled;

    /// <summary>
    /// After a heartbeat that landed: WATCHDOG=1 when the host is live (no report, as for a scheduler,
    /// or a healthy one). Returns whether it was sent. Says so in the log when that changes, not at
    /// every heartbeat: systemd restarts a host that goes on unfed for WatchdogSec.
    /// </summary>
    public bool Alive(CapacityReport? report, ILogger? logger = null)
    {
        if (!Enabled)
        {
            return false;
        }

        var live = report is not { Healthy: false };
        if (live != _lastLive)
        {
            if (!live)
            {
                logger?.LogWarning("Not feeding the systemd watchdog ({Reason}): systemd restarts this host after {Seconds} s of that",
                    report?.HealthReason ?? "unhealthy", Interval!.Value.TotalSeconds);
            }
            else if (_lastLive is not null)
            {
                logger?.LogInformation("Feeding the systemd watchdog again");
            }

            _lastLive = live;
        }

        if (live)
        {
            _notifier.Notify(new ServiceState("WATCHDOG=1"));
        }

        return live;
    }

    private static TimeSpan? ReadInterval(Func<string, string?> environment, int processId)
    {
        if (!long.TryParse(environment("WATCHDOG_USEC"), out var usec) || usec <= 0)
        {
            return null;
        }

        var pid = environment("WATCHDOG_PID");
        if (!string.IsNullOrEmpty(pid) && pid != processId.ToString(System.Globalization.CultureInfo.InvariantCulture))
        {
            return null;
        }

        return TimeSpan.FromTicks(usec * 10);
    }
}
