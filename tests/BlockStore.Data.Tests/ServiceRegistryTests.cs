using BlockStore.Core;

namespace BlockStore.Data.Tests;

/// <summary>
/// The operator's side of the service registry: changes are stored (and only valid ones), survive
/// re-registration, are refused for unknown services, and act on placement at the next batch.
/// </summary>
public sealed class ServiceRegistryTests(TestDatabase db) : IClassFixture<TestDatabase>
{
    private ServiceRegistry Registry => new(db.Store);

    private async Task FleetAsync()
    {
        await db.ResetAsync();
        await db.AddSchedulerAsync("sched1");
        await db.AddHostAsync("host-a", 100);
        await db.AddHostAsync("host-b", 100);
    }

    private Task<List<string>> RowAsync(string host, string service) =>
        db.ColumnAsync("SELECT concat_ws('|', disabled, coalesce(disabled_reason, '-'), frozen, log_level, coalesce(modified_at::text, '-')) " +
                       $"FROM bs.services WHERE host = '{host}' AND service = '{service}'");

    [Fact]
    public async Task Disable_stores_the_reason_with_an_event_and_enable_clears_it()
    {
        await FleetAsync();
        var disabled = await Registry.ChangeAsync("host-a", ServiceType.Volume, ServiceChange.Disable, "disk swap");
        Assert.Equal("disabled", disabled!.Status);
        Assert.Equal("disk swap", disabled.DisabledReason);
        Assert.Equal("t|disk swap|f|Information", string.Join('|', (await RowAsync("host-a", "volume"))[0].Split('|')[..4]));
        Assert.Equal(["volume service on host-a disabled: disk swap"],
            await db.ColumnAsync("SELECT message FROM bs.events WHERE kind = 'service-disable'"));

        var enabled = await Registry.ChangeAsync("host-a", ServiceType.Volume, ServiceChange.Enable, null);
        Assert.Equal("enabled", enabled!.Status);
        Assert.Null(enabled.DisabledReason);
        Assert.Equal("f|-|f|Information", string.Join('|', (await RowAsync("host-a", "volume"))[0].Split('|')[..4]));
    }

    [Fact]
    public async Task Running_schedulers_are_the_enabled_ones_that_are_up_by_name()
    {
        await FleetAsync();
        await db.AddSchedulerAsync("sched3");
        await db.AddSchedulerAsync("sched2");
        await db.AddSchedulerAsync("sched4");
        Assert.Equal(["sched1", "sched2", "sched3", "sched4"], await Registry.RunningSchedulersAsync());

        await Registry.ChangeAsync("sched2", ServiceType.Scheduler, ServiceChange.Disable, "maintenance");
        await db.ExecuteAsync("UPDATE bs.services SET heartbeat_at = now() - interval '1 hour' WHERE host = 'sched3'");
        // A disabled scheduler and one that is down are left out, and volume hosts are no schedulers.
        Assert.Equal(["sched1", "sched4"], await Registry.RunningSchedulersAsync());
    }

    [Fact]
    public async Task An_unknown_host_or_service_returns_null_and_writes_nothing()
    {
        await FleetAsync();
        var before = await db.ColumnAsync("SELECT count(*) FROM bs.events");
        Assert.Null(await Registry.ChangeAsync("no-such-host", ServiceType.Volume, ServiceChange.Disable, null));
        Assert.Null(await Registry.ChangeAsync("host-a", ServiceType.Scheduler, ServiceChange.Enable, null));
        Assert.Null(await Registry.SetLogLevelAsync("no-such-host", ServiceType.Volume, "Debug"));
        Assert.Equal(before, await db.ColumnAsync("SELECT count(*) FROM bs.events"));
        Assert.Equal(0, await db.ScalarAsync<int>("SELECT count(*) FROM bs.services WHERE modified_at IS NOT NULL"));
    }

    [Theory]
    [InlineData(ServiceType.Scheduler, ServiceChange.Freeze, null, ErrorIds.InvalidServiceChange)]
    [InlineData(ServiceType.Volume, ServiceChange.Disable, "", ErrorIds.InvalidReason)]
    [InlineData(ServiceType.Volume, ServiceChange.Disable, " ", ErrorIds.InvalidReason)]
    [InlineData(ServiceType.Volume, ServiceChange.Enable, "why", ErrorIds.InvalidReason)]
    public async Task Refuses_an_invalid_change_before_writing(string service, ServiceChange change, string? reason, string errorId)
    {
        await FleetAsync();
        var host = service == ServiceType.Scheduler ? "sched1" : "host-a";
        var e = await Assert.ThrowsAsync<BlockStoreException>(() => Registry.ChangeAsync(host, service, change, reason));
        Assert.Equal(errorId, e.ErrorId);
        Assert.Equal(0, await db.ScalarAsync<int>("SELECT count(*) FROM bs.services WHERE modified_at IS NOT NULL"));
    }

    [Fact]
    public async Task Refuses_a_256_character_reason_before_writing()
    {
        await FleetAsync();
        var e = await Assert.ThrowsAsync<BlockStoreException>(() =>
            Registry.ChangeAsync("host-a", ServiceType.Volume, ServiceChange.Disable, new string('r', 256)));
        Assert.Equal(ErrorIds.InvalidReason, e.ErrorId);
        Assert.Equal(0, await db.ScalarAsync<int>("SELECT count(*) FROM bs.services WHERE modified_at IS NOT NULL"));
    }

    [Fact]
    public async Task Registering_again_after_a_restart_keeps_what_the_operator_set()
    {
        await FleetAsync();
        await Registry.ChangeAsync("host-a", ServiceType.Volume, ServiceChange.Disable, "kept");
        await Registry.ChangeAsync("host-b", ServiceType.Volume, ServiceChange.Freeze, null);
        await Registry.SetLogLevelAsync("host-b", ServiceType.Volume, "debug");
        await Registry.ChangeAsync("sched1", ServiceType.Scheduler, ServiceChange.Disable, null);
        var before = await db.ColumnAsync("SELECT concat_ws('|', host, disabled, disabled_reason, frozen, log_level, modified_at) FROM bs.services ORDER BY host");

        await db.AddSchedulerAsync("sched1");
        await db.AddHostAsync("host-a", 100);
        await db.AddHostAsync("host-b", 100);

        Assert.Equal(before, await db.ColumnAsync("SELECT concat_ws('|', host, disabled, disabled_reason, frozen, log_level, modified_at) FROM bs.services ORDER BY host"));
        Assert.Equal("Debug", (await Registry.GetAsync("host-b", ServiceType.Volume))!.LogLevel);
    }

    [Fact]
    public async Task A_disabled_scheduler_places_nothing_even_when_asked_and_the_requests_wait()
    {
        await FleetAsync();
        await db.CreateAsync("wait", 3, 1);
        await Registry.ChangeAsync("sched1", ServiceType.Scheduler, ServiceChange.Disable, "upgrade");

        Assert.Empty(await db.Scheduler.PlaceBatchAsync("sched1", 32));
        Assert.Equal(3, await db.ScalarAsync<int>("SELECT count(*) FROM bs.operations WHERE stage = 'pending'"));

        await Registry.ChangeAsync("sched1", ServiceType.Scheduler, ServiceChange.Enable, null);
        Assert.Equal(3, (await db.PlaceAllAsync("sched1")).Count(o => o.Host is not null));
    }

    [Fact]
    public async Task With_every_volume_host_disabled_a_request_fails_with_each_host_and_its_reason()
    {
        await FleetAsync();
        await Registry.ChangeAsync("host-a", ServiceType.Volume, ServiceChange.Disable, "disk swap");
        await Registry.ChangeAsync("host-b", ServiceType.Volume, ServiceChange.Disable, null);
        var volume = (await db.CreateAsync("none", 1, 1))[0];

        var outcome = Assert.Single(await db.PlaceAllAsync());
        Assert.Null(outcome.Host);
        var failed = (await db.Volumes.GetAsync(volume.Id))!;
        Assert.Equal(VolumeStatus.Error, failed.Status);
        Assert.Equal("No volume host can take 1 GiB: host-a: disabled (disk swap); host-b: disabled.", failed.StatusReason);
    }

    [Fact]
    public async Task Lists_state_from_the_database_clock_and_provisioned_space_without_failed_creates()
    {
        await FleetAsync();
        var volumes = await db.CreateAsync("p", 3, 5);
        await db.PlaceAllAsync();
        await db.ExecuteAsync($"UPDATE bs.volumes SET status = 'error' WHERE id = '{volumes[0].Id}'");
        await db.ExecuteAsync("UPDATE bs.services SET heartbeat_at = now() - make_interval(secs => bs.service_down_seconds() + 1) WHERE host = 'host-b'");

        var services = await Registry.ListAsync(["host-*"], ServiceType.Volume);
        Assert.Equal(["host-a", "host-b"], services.Select(s => s.Host));
        Assert.Equal("up", services[0].State);
        Assert.Equal("down", services[1].State);
        var placed = await db.ProvisionedAsync();
        Assert.Equal(placed.GetValueOrDefault("host-a"), services[0].ProvisionedGiB);
        Assert.Equal(placed.GetValueOrDefault("host-b"), services[1].ProvisionedGiB);
        Assert.Equal(10m, services.Sum(s => s.ProvisionedGiB));
        Assert.All(await Registry.ListAsync(null, ServiceType.Scheduler), s => Assert.Null(s.CapacityGiB));
    }

    [Fact]
    public async Task Stores_the_log_level_in_its_canonical_spelling_and_refuses_unknown_ones()
    {
        await FleetAsync();
        Assert.Equal("Warning", (await Registry.SetLogLevelAsync("host-a", ServiceType.Volume, "WARNING"))!.LogLevel);
        var e = await Assert.ThrowsAsync<BlockStoreException>(() => Registry.SetLogLevelAsync("host-a", ServiceType.Volume, "Verbose"));
        Assert.Equal(ErrorIds.InvalidLogLevel, e.ErrorId);
        Assert.Equal(["Warning"], await db.ColumnAsync("SELECT log_level FROM bs.services WHERE host = 'host-a'"));
    }
}
