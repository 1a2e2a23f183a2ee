using System.Text.Json;
using BlockStore.Data;
using BlockStore.Hosting;

namespace BlockStore.Agent.Tests;

/// <summary>
/// /healthz answers from the last heartbeat: these pin which results make it 503, what the JSON
/// carries, and when the reconnect counter is told the database came back.
/// </summary>
public class HostHealthTests
{
    private sealed class Clock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    private sealed class Source(params HealthCheck[] checks) : IHealthCheckSource
    {
        public IEnumerable<HealthCheck> Checks() => checks;
    }

    private static readonly CapacityReport Healthy = new("thick", 10, 8, 2, true, null, 0, 1);
    private static readonly CapacityReport NoVg = new("thick", 0, 0, 0, false, "volume group vg0 not found", 0, 1);

    private static JsonElement Json(HostHealth health, out bool healthy)
    {
        var (ok, json) = health.Report("node1", "volume");
        healthy = ok;
        return JsonDocument.Parse(json).RootElement;
    }

    [Fact]
    public void Before_any_heartbeat_the_host_is_not_healthy()
    {
        var body = Json(new HostHealth(new Clock(DateTimeOffset.UnixEpoch), []), out var healthy);
        Assert.False(healthy);
        Assert.Equal("unhealthy", body.GetProperty("status").GetString());
        Assert.False(body.GetProperty("checks").GetProperty("database").GetProperty("ok").GetBoolean());
        Assert.Equal(JsonValueKind.Null, body.GetProperty("lastHeartbeatAt").ValueKind);
    }

    [Fact]
    public void A_landed_heartbeat_with_its_volume_group_is_healthy_and_ages_by_the_clock()
    {
        var clock = new Clock(new DateTimeOffset(2026, 12, 4, 9, 0, 0, TimeSpan.Zero));
        var health = new HostHealth(clock, []);
        Assert.False(health.RecordHeartbeat(true, null, Healthy));
        clock.Now += TimeSpan.FromSeconds(7);
        var body = Json(health, out var healthy);
        Assert.True(healthy);
        Assert.Equal("node1", body.GetProperty("host").GetString());
        Assert.Equal(7, body.GetProperty("heartbeatAgeSeconds").GetDouble());
        Assert.True(body.GetProperty("checks").GetProperty("volume_group").GetProperty("ok").GetBoolean());
        Assert.Equal(8m, health.LastReport!.FreeGiB);
    }

    [Fact]
    public void A_missing_volume_group_or_a_failed_heartbeat_makes_it_unhealthy_with_the_reason()
    {
        var health = new HostHealth(new Clock(DateTimeOffset.UnixEpoch), []);
        health.RecordHeartbeat(true, null, NoVg);
        var body = Json(health, out var healthy);
        Assert.False(healthy);
        Assert.Equal("volume group vg0 not found", body.GetProperty("checks").GetProperty("volume_group").GetProperty("detail").GetString());

        health.RecordHeartbeat(true, null, Healthy);
        health.RecordHeartbeat(false, "connection refused", null);
        body = Json(health, out healthy);
        Assert.False(healthy);
        Assert.Equal("connection refused", body.GetProperty("checks").GetProperty("database").GetProperty("detail").GetString());
        // The last success is kept: the age keeps growing while the database is away.
        Assert.NotNull(health.LastHeartbeatSuccess);
    }

    [Fact]
    public void Only_the_first_success_after_a_failure_is_a_reconnect()
    {
        var health = new HostHealth(new Clock(DateTimeOffset.UnixEpoch), []);
        Assert.False(health.RecordHeartbeat(true, null, null));
        Assert.False(health.RecordHeartbeat(false, "down", null));
        Assert.False(health.RecordHeartbeat(false, "down", null));
        Assert.True(health.RecordHeartbeat(true, null, null));
        Assert.False(health.RecordHeartbeat(true, null, null));
    }

    [Fact]
    public void An_optional_check_is_reported_but_does_not_fail_the_host_and_a_required_one_does()
    {
        var withoutLio = new HostHealth(new Clock(DateTimeOffset.UnixEpoch), [new Source(new HealthCheck("iscsi", false, "no LIO", Required: false))]);
        withoutLio.RecordHeartbeat(true, null, Healthy);
        var body = Json(withoutLio, out var healthy);
        Assert.True(healthy);
        Assert.Equal("no LIO", body.GetProperty("checks").GetProperty("iscsi").GetProperty("detail").GetString());

        var failing = new HostHealth(new Clock(DateTimeOffset.UnixEpoch), [new Source(new HealthCheck("extra", false, "broken"))]);
        failing.RecordHeartbeat(true, null, Healthy);
        Json(failing, out healthy);
        Assert.False(healthy);
    }
}
