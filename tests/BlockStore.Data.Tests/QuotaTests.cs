using BlockStore.Core;
using Npgsql;

namespace BlockStore.Data.Tests;

/// <summary>
/// Projects, volume types and quotas (migration 0011) through the product's data code: every
/// request path is held to the limits by the database (refused with QuotaExceeded, nothing
/// written), usage follows deletes, concurrent requests never exceed a limit together, and an
/// existing database upgrades into the default project and type.
/// </summary>
public sealed class QuotaTests(TestDatabase db) : IClassFixture<TestDatabase>
{
    private ProjectRequests Projects => new(db.Store);

    private QuotaRequests Quotas => new(db.Store);

    private VolumeTypeRequests Types => new(db.Store);

    private async Task ResetAsync(string backend = BackendType.Thick)
    {
        await db.ResetAsync();
        await db.ExecuteAsync(
            "DELETE FROM bs.quotas WHERE project IS NOT NULL OR volume_type IS NOT NULL; UPDATE bs.quotas SET hard_limit = -1; " +
            "DELETE FROM bs.projects WHERE name <> 'default'; UPDATE bs.volume_types SET is_default = (name = 'default'); " +
            "DELETE FROM bs.volume_types WHERE name <> 'default'");
        await db.AddSchedulerAsync();
        await db.AddHostAsync("host-a", 1000, backend);
        await db.Agent("host-a").ReportSnapshotCapabilityAsync(true, null);
    }

    private Task<long> RowsAsync() => db.ScalarAsync<long>(
        "SELECT (SELECT count(*) FROM bs.volumes) + (SELECT count(*) FROM bs.operations) + (SELECT count(*) FROM bs.events) + (SELECT count(*) FROM bs.snapshots)");

    private static async Task<BlockStoreException> RefusedAsync(Func<Task> request)
    {
        var e = await Assert.ThrowsAsync<BlockStoreException>(request);
        return e;
    }

    private Task<BlockVolume> CreateAsync(string name, int size, string? project = "team-a", string? type = null) =>
        db.Volumes.CreateAsync(name, size, null, null, false, project, type);

    [Fact]
    public async Task A_new_volume_goes_to_the_default_project_and_type_unless_asked()
    {
        await ResetAsync();
        await Projects.CreateAsync("team-a", "first team");
        await Types.CreateAsync("fast", null, new Dictionary<string, string> { ["backend_type"] = "thin" }, makeDefault: false);

        var plain = await db.Volumes.CreateAsync("plain", 1, null, null);
        Assert.Equal(("default", "default"), (plain.Project, plain.VolumeType));
        var typed = await CreateAsync("typed", 1, type: "fast");
        Assert.Equal(("team-a", "fast"), (typed.Project, typed.VolumeType));

        await Types.UpdateAsync("fast", null, null, makeDefault: true);
        Assert.Equal("fast", (await db.Volumes.CreateAsync("now-fast", 1, null, null)).VolumeType);
        Assert.Equal(["fast"], (await Types.ListAsync(null)).Where(t => t.IsDefault).Select(t => t.Name));

        var before = await RowsAsync();
        Assert.Equal(ErrorIds.ProjectNotFound, (await RefusedAsync(() => CreateAsync("x", 1, project: "nobody"))).ErrorId);
        Assert.Equal(ErrorIds.VolumeTypeNotFound, (await RefusedAsync(() => CreateAsync("y", 1, type: "nothing"))).ErrorId);
        Assert.Equal(before, await RowsAsync());
    }

    [Fact]
    public async Task Each_resource_over_its_limit_is_refused_with_nothing_written()
    {
        await ResetAsync();
        await Projects.CreateAsync("team-a", null);
        await Quotas.SetAsync("team-a", null, new Dictionary<string, long> { ["volumes"] = 2, ["gigabytes"] = 10, ["snapshots"] = 1 });

        var v1 = await CreateAsync("v1", 4);
        await CreateAsync("v2", 4);
        var before = await RowsAsync();
        var volumes = await RefusedAsync(() => CreateAsync("v3", 1));
        Assert.Equal((ErrorIds.QuotaExceeded, ErrorKind.QuotaExceeded), (volumes.ErrorId, volumes.Kind));
        Assert.Contains("volumes in project team-a: limit 2, in use 2, requested 1", volumes.Message);
        Assert.Equal(before, await RowsAsync());

        // Gigabytes count volumes and snapshots: 8 used, a 4 GiB snapshot would make 12 > 10.
        await db.ExecuteAsync("UPDATE bs.quotas SET hard_limit = 5 WHERE project = 'team-a' AND resource = 'volumes'");
        var gigabytes = await RefusedAsync(() => CreateAsync("big", 3));
        Assert.Contains("gigabytes in project team-a: limit 10, in use 8, requested 3", gigabytes.Message);
        await db.PlaceAllAsync();
        await db.RunAgentAsync("host-a");
        var snapshots = new SnapshotRequests(db.Store);
        before = await RowsAsync();
        Assert.Contains("gigabytes", (await RefusedAsync(() => snapshots.CreateAsync(v1.Id, "s1", null, false))).Message);
        Assert.Equal(before, await RowsAsync());

        await Quotas.SetAsync("team-a", null, new Dictionary<string, long> { ["gigabytes"] = -1 });
        await snapshots.CreateAsync(v1.Id, "s1", null, false);
        var second = await RefusedAsync(() => snapshots.CreateAsync(v1.Id, "s2", null, false));
        Assert.Contains("snapshots in project team-a: limit 1, in use 1, requested 1", second.Message);

        // Growing a volume is gigabytes too.
        await Quotas.SetAsync("team-a", null, new Dictionary<string, long> { ["gigabytes"] = 14 });
        Assert.Contains("gigabytes in project team-a: limit 14, in use 12, requested 3",
            (await RefusedAsync(() => db.Volumes.RequestExtendAsync(v1.Id, 7))).Message);
        Assert.Equal(4, (await db.Volumes.GetAsync(v1.Id))!.SizeGiB);
        await db.Volumes.RequestExtendAsync(v1.Id, 6);
    }

    [Fact]
    public async Task Defaults_apply_to_projects_without_their_own_limit_and_per_type_limits_count_their_type_only()
    {
        await ResetAsync();
        await Projects.CreateAsync("team-a", null);
        await Projects.CreateAsync("team-b", null);
        await Types.CreateAsync("gold", null, new Dictionary<string, string>(), makeDefault: false);
        await Quotas.SetAsync(null, null, new Dictionary<string, long> { ["volumes"] = 1 });
        await Quotas.SetAsync("team-b", null, new Dictionary<string, long> { ["volumes"] = 3 });
        await Quotas.SetAsync("team-b", "gold", new Dictionary<string, long> { ["volumes"] = 1 });

        await CreateAsync("a1", 1);
        Assert.Contains("limit 1, in use 1", (await RefusedAsync(() => CreateAsync("a2", 1))).Message);

        await CreateAsync("b-gold", 1, project: "team-b", type: "gold");
        var gold = await RefusedAsync(() => CreateAsync("b-gold2", 1, project: "team-b", type: "gold"));
        Assert.Contains("volumes of volume type gold in project team-b: limit 1, in use 1", gold.Message);
        await CreateAsync("b-plain", 1, project: "team-b");
        await CreateAsync("b-plain2", 1, project: "team-b");
        Assert.Contains("volumes in project team-b: limit 3, in use 3", (await RefusedAsync(() => CreateAsync("b-plain3", 1, project: "team-b"))).Message);

        var lines = await Quotas.ListAsync(["team-b"], usage: true);
        var total = lines.Single(l => l.VolumeType is null && l.Resource == QuotaResource.Volumes);
        Assert.Equal((3L, "project", (long?)3, (long?)0), (total.Limit, total.Source, total.InUse, total.Free));
        var perGold = lines.Single(l => l.VolumeType == "gold" && l.Resource == QuotaResource.Volumes);
        Assert.Equal((1L, (long?)1), (perGold.Limit, perGold.InUse));
        var teamA = (await Quotas.ListAsync(["team-a"], usage: false)).Single(l => l.VolumeType is null && l.Resource == QuotaResource.Volumes);
        Assert.Equal((1L, "default", (long?)null), (teamA.Limit, teamA.Source, teamA.InUse));
    }

    [Fact]
    public async Task Usage_is_released_on_delete_and_an_error_volume_counts_until_removed()
    {
        await ResetAsync();
        await Projects.CreateAsync("team-a", null);
        await Quotas.SetAsync("team-a", null, new Dictionary<string, long> { ["volumes"] = 1 });
        var v = await CreateAsync("only", 1);
        await db.ExecuteAsync($"UPDATE bs.operations SET stage = 'failed' WHERE volume_id = '{v.Id}'; UPDATE bs.volumes SET status = 'error' WHERE id = '{v.Id}'");
        Assert.Equal(ErrorIds.QuotaExceeded, (await RefusedAsync(() => CreateAsync("next", 1))).ErrorId);

        await db.Volumes.RequestDeleteAsync(v.Id);
        Assert.Equal(VolumeStatus.Deleted, await db.StatusAsync(v.Id));
        Assert.Equal("team-a", (await CreateAsync("next", 1)).Project);
        Assert.Empty(await db.LedgerDriftAsync()); // the quota ledger (0017) followed the error and the delete
    }

    [Fact]
    public async Task Twenty_parallel_requests_against_a_remaining_quota_of_ten_accept_exactly_ten()
    {
        await ResetAsync();
        await Projects.CreateAsync("team-a", null);
        await Quotas.SetAsync("team-a", null, new Dictionary<string, long> { ["volumes"] = 12 });
        await CreateAsync("pre-1", 1);
        await CreateAsync("pre-2", 1);

        var results = await Task.WhenAll(Enumerable.Range(1, 20).Select(async i =>
        {
            await Task.Yield();
            try
            {
                await CreateAsync($"par-{i}", 1);
                return "ok";
            }
            catch (BlockStoreException e)
            {
                return e.ErrorId;
            }
        }));

        Assert.Equal(10, results.Count(r => r == "ok"));
        Assert.Equal(10, results.Count(r => r == ErrorIds.QuotaExceeded));
        Assert.Equal(12, await db.ScalarAsync<long>("SELECT count(*) FROM bs.volumes WHERE project = 'team-a' AND status <> 'deleted'"));
        Assert.Equal(12, await db.ScalarAsync<long>("SELECT sum(volumes) FROM bs.quota_ledger WHERE project = 'team-a' AND volume_type = 'default'"));
        Assert.Empty(await db.LedgerDriftAsync());
    }

    [Fact]
    public async Task A_project_or_type_in_use_is_not_removed_and_a_removed_projects_name_is_kept()
    {
        await ResetAsync();
        await Projects.CreateAsync("team-a", null);
        await Types.CreateAsync("gold", null, new Dictionary<string, string>(), makeDefault: false);
        var v = await CreateAsync("v", 1, type: "gold");

        Assert.Equal(ErrorIds.ProjectNotEmpty, (await RefusedAsync(() => Projects.RemoveAsync("team-a"))).ErrorId);
        Assert.Equal(ErrorIds.VolumeTypeInUse, (await RefusedAsync(() => Types.RemoveAsync("gold"))).ErrorId);
        Assert.Equal(ErrorIds.VolumeTypeInUse, (await RefusedAsync(() => Types.RemoveAsync("default"))).ErrorId);
        Assert.Equal(ErrorIds.ProjectNotEmpty, (await RefusedAsync(() => Projects.RemoveAsync("default"))).ErrorId);

        await db.Volumes.RequestDeleteAsync(v.Id);
        await Quotas.SetAsync("team-a", null, new Dictionary<string, long> { ["volumes"] = 5 });
        Assert.Equal("team-a", (await Projects.RemoveAsync("team-a")).Name);
        Assert.Equal(0, await db.ScalarAsync<long>("SELECT count(*) FROM bs.quotas WHERE project = 'team-a'"));
        Assert.Empty(await Projects.ListAsync(["team-a"]));
        Assert.Equal(ErrorIds.ProjectNotFound, (await RefusedAsync(() => CreateAsync("w", 1))).ErrorId);
        Assert.Equal(ErrorIds.ProjectNameInUse, (await RefusedAsync(() => Projects.CreateAsync("team-a", null))).ErrorId);
        // Only a deleted volume names the type now: it lets go, the type goes and its name is free again.
        Assert.Equal("gold", (await Types.RemoveAsync("gold")).Name);
        Assert.Null((await db.Volumes.GetAsync(v.Id))!.VolumeType);
        await Types.CreateAsync("gold", "again", new Dictionary<string, string>(), makeDefault: false);
    }

    [Fact]
    public async Task Bad_names_limits_and_specs_are_refused_before_the_database()
    {
        await ResetAsync();
        Assert.Equal(ErrorIds.InvalidProjectName, (await RefusedAsync(() => Projects.CreateAsync("Team A", null))).ErrorId);
        Assert.Equal(ErrorIds.InvalidVolumeTypeName, (await RefusedAsync(() => Types.CreateAsync("-x", null, new Dictionary<string, string>(), false))).ErrorId);
        Assert.Equal(ErrorIds.InvalidExtraSpec, (await RefusedAsync(() => Types.CreateAsync("x", null, new Dictionary<string, string> { ["backend_type"] = "fast" }, false))).ErrorId);
        Assert.Equal(ErrorIds.InvalidQuotaLimit, (await RefusedAsync(() => Quotas.SetAsync(null, null, new Dictionary<string, long> { ["volumes"] = -2 }))).ErrorId);
        Assert.Equal(ErrorIds.InvalidQuotaLimit, (await RefusedAsync(() => Quotas.SetAsync(null, null, new Dictionary<string, long> { ["bananas"] = 1 }))).ErrorId);
        Assert.Equal(ErrorIds.ProjectNotFound, (await RefusedAsync(() => Quotas.SetAsync("nobody", null, new Dictionary<string, long> { ["volumes"] = 1 }))).ErrorId);
        Assert.Equal(ErrorIds.VolumeTypeNotFound, (await RefusedAsync(() => Quotas.SetAsync(null, "nothing", new Dictionary<string, long> { ["volumes"] = 1 }))).ErrorId);
    }

    [Fact]
    public async Task An_existing_database_upgrades_into_the_default_project_and_type()
    {
        await using var scratch = await db.CreateEmptyDatabaseAsync();
        var scripts = typeof(SchemaMigrator).Assembly.GetManifestResourceNames().Where(n => n.Contains(".Migrations.")).Order(StringComparer.Ordinal).ToList();
        await using var conn = new NpgsqlConnection(scratch.ConnectionString);
        await conn.OpenAsync();
        async Task RunScriptAsync(string resource)
        {
            using var reader = new StreamReader(typeof(SchemaMigrator).Assembly.GetManifestResourceStream(resource)!);
            await using var cmd = new NpgsqlCommand(await reader.ReadToEndAsync(), conn);
            await cmd.ExecuteNonQueryAsync();
        }

        // The schema as version 10 left it, with volumes in it (scripts run as DbUp runs them; 0003
        // grants on DbUp's journal table, so it is there as DbUp makes it).
        await using (var journal = new NpgsqlCommand(
            "CREATE TABLE public.blockstore_schema_versions (schemaversionsid serial PRIMARY KEY, scriptname varchar(255) NOT NULL, applied timestamp NOT NULL)", conn))
        {
            await journal.ExecuteNonQueryAsync();
        }

        foreach (var script in scripts.TakeWhile(s => !s.Contains("0011_")))
        {
            await RunScriptAsync(script);
        }

        await using (var seed = new NpgsqlCommand(
            "INSERT INTO bs.volumes (id, name, size_gib, status, host) VALUES (gen_random_uuid(), 'old-1', 2, 'available', 'h'), (gen_random_uuid(), 'old-2', 3, 'deleted', NULL)", conn))
        {
            await seed.ExecuteNonQueryAsync();
        }

        await RunScriptAsync(scripts.Single(s => s.Contains("0011_")));
        await using var check = new NpgsqlCommand("SELECT string_agg(name || ':' || project || ':' || volume_type, ',' ORDER BY name) FROM bs.volumes", conn);
        Assert.Equal("old-1:default:default,old-2:default:default", await check.ExecuteScalarAsync());
        await using var ledger = new NpgsqlCommand("SELECT count(*) FROM bs.capacity_ledger_drift", conn);
        Assert.Equal(0L, await ledger.ExecuteScalarAsync());
    }
}
