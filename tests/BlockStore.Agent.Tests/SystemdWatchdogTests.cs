using BlockStore.Data;
using BlockStore.Hosting;
using Microsoft.Extensions.Hosting.Systemd;

namespace BlockStore.Agent.Tests;

/// <summary>
/// The watchdog is fed only while the host is live, and only when systemd asked this very process
/// for it (the unit's WatchdogSec; docs/operations.md, "Packages and systemd").
/// </summary>
public sealed class SystemdWatchdogTests
{
    private sealed class RecordingNotifier(bool enabled) : ISystemdNotifier
    {
        public List<string> Sent { get; } = [];

        public bool IsEnabled => enabled;

        public void Notify(ServiceState state) => Sent.Add(state.ToString());
    }

    private static Func<string, string?> Env(string? usec, string? pid) =>
        name => name switch { "WATCHDOG_USEC" => usec, "WATCHDOG_PID" => pid, _ => null };

    private static CapacityReport Report(bool healthy) =>
        new("thick", 100, 50, 10, healthy, healthy ? null : "volume group vg0 not found", 0, 1);

    [Fact]
    public void Fed_after_a_healthy_heartbeat_and_a_scheduler_s_one()
    {
        var notifier = new RecordingNotifier(true);
        var watchdog = new SystemdWatchdog(notifier, Env("60000000", "42"), 42);

        Assert.Equal(TimeSpan.FromSeconds(60), watchdog.Interval);
        Assert.True(watchdog.Alive(Report(healthy: true)));
        Assert.True(watchdog.Alive(null));
        Assert.Equal(["WATCHDOG=1", "WATCHDOG=1"], notifier.Sent);
    }

    [Fact]
    public void Not_fed_while_the_volume_group_is_missing_and_fed_again_once_it_is_back()
    {
        var notifier = new RecordingNotifier(true);
        var watchdog = new SystemdWatchdog(notifier, Env("30000000", null), 42);

        Assert.False(watchdog.Alive(Report(healthy: false)));
        Assert.Empty(notifier.Sent);
        Assert.True(watchdog.Alive(Report(healthy: true)));
        Assert.Equal(["WATCHDOG=1"], notifier.Sent);
    }

    [Theory]
    [InlineData(null, null, true)]          // no WatchdogSec in the unit
    [InlineData("0", null, true)]
    [InlineData("60000000", "41", true)]    // asked of another process (inherited environment)
    [InlineData("60000000", "42", false)]   // no NOTIFY_SOCKET: not under systemd
    public void Quiet_unless_systemd_asked_this_process(string? usec, string? pid, bool notifierEnabled)
    {
        var notifier = new RecordingNotifier(notifierEnabled);
        var watchdog = new SystemdWatchdog(notifier, Env(usec, pid), 42);

        Assert.False(watchdog.Enabled);
        Assert.False(watchdog.Alive(Report(healthy: true)));
        Assert.Empty(notifier.Sent);
    }
}
