using BlockStore.Core;
using BlockStore.Data;
using Npgsql;

namespace BlockStore.Data.Tests;

/// <summary>
/// Two tenant logins (issue 13), made the product's way (bs.register_tenant through TenantRegistry),
/// each working through the product's own request code: each sees only its own project's volumes,
/// snapshots, attachments (and CHAP secrets), events, quota lines and project, and every read or
/// write of the other project's rows returns nothing or is denied, confirmed by re-reading as the
/// owner. A tenant cannot raise its quota nor write into another project.
/// </summary>
public sealed class TenantIsolationTests(TenantIsolationTests.World w) : IClassFixture<TenantIsolationTests.World>
{
    /// <summary>Two projects with a tenant login each, a volume each, and B's snapshot and attachment: made once per class.</summary>
    public sealed class World : IAsyncLifetime
    {
        public SecuredDatabase Db { get; } = new();
        public string A = "", B = "", ACs = "", BCs = "";
        public BlockVolume Va = null!, Vb = null!;
        public BlockVolumeSnapshot Sb = null!;
        public BlockVolumeAttachment Ab = null!;

        public async Task InitializeAsync()
        {
            await Db.InitializeAsync();
            await Db.SeedServicesAsync();
            var op = Store(Db.OperatorCs);
            var tag = Db.Database.Replace("bs_", "", StringComparison.Ordinal);
            A = $"{tag}-a";
            B = $"{tag}-b";
            await new ProjectRequests(op).CreateAsync(A, null);
            await new ProjectRequests(op).CreateAsync(B, null);
            var tenants = new TenantRegistry(op);
            var ca = await tenants.RegisterAsync(A);
            var cb = await tenants.RegisterAsync(B);
            Db.Track(ca.Role);
            Db.Track(cb.Role);
            ACs = Db.RoleCs(ca.Role, ca.Password);
            BCs = Db.RoleCs(cb.Role, cb.Password);

            // Each tenant asks for a volume the way the module does; the owner then plays scheduler and
            // agent (places it on node1, makes it available) and says node1 can snapshot and export.
            Va = await new VolumeRequests(Store(ACs)).CreateAsync("vol-a", 1, null, null);
            Vb = await new VolumeRequests(Store(BCs)).CreateAsync("vol-b", 1, null, null);
            await SecuredDatabase.ExecAsync(Db.OwnerCs,
                "UPDATE bs.operations SET stage = 'succeeded', host = @h WHERE volume_id IN (@a, @b); " +
                "UPDATE bs.volumes SET status = 'available', host = @h WHERE id IN (@a, @b); " +
                "UPDATE bs.services SET capabilities = capabilities || '{\"snapshots\": true, \"iscsi\": true}'::jsonb WHERE host = @h",
                ("h", Db.Node1), ("a", Va.Id), ("b", Vb.Id));
            Sb = await new SnapshotRequests(Store(BCs)).CreateAsync(Vb.Id, "snap-b", null, force: false);
            (Ab, _) = await new AttachmentRequests(Store(BCs)).RequestAttachAsync(Vb.Id, "iqn.2026-01.test.tenant:b");
        }

        public Task DisposeAsync() => Db.DisposeAsync();
    }

    private SecuredDatabase db => w.Db;
    private string _a => w.A;
    private string _b => w.B;
    private string _aCs => w.ACs;
    private string _bCs => w.BCs;
    private BlockVolume _va => w.Va;
    private BlockVolume _vb => w.Vb;
    private BlockVolumeSnapshot _sb => w.Sb;
    private BlockVolumeAttachment _ab => w.Ab;

    private static StoreConnection Store(string cs) => new(cs, "tenant-tests");

    private async Task<long> OwnerCountAsync(string sql) => long.Parse((await SecuredDatabase.ColumnAsync(db.OwnerCs, sql))[0]);

    [Fact]
    public async Task Requests_land_in_the_tenants_own_project_and_listings_show_only_its_rows()
    {
        Assert.Equal((_a, _b), (_va.Project, _vb.Project));
        Assert.Equal(["vol-a"], (await new VolumeRequests(Store(_aCs)).ListAsync(new VolumeFilter())).Select(v => v.Name));
        Assert.Equal(["vol-b"], (await new VolumeRequests(Store(_bCs)).ListAsync(new VolumeFilter())).Select(v => v.Name));
        Assert.Null(await new VolumeRequests(Store(_aCs)).GetAsync(_vb.Id));
        Assert.Empty(await new SnapshotRequests(Store(_aCs)).ListAsync(new SnapshotFilter()));
        Assert.Single(await new SnapshotRequests(Store(_bCs)).ListAsync(new SnapshotFilter()));
        Assert.Empty(await new AttachmentRequests(Store(_aCs)).ListAsync(new AttachmentFilter()));
        Assert.Single(await new AttachmentRequests(Store(_bCs)).ListAsync(new AttachmentFilter()));
        Assert.Equal([_a], (await new ProjectRequests(Store(_aCs)).ListAsync(null)).Select(p => p.Name));
        // Events: only of its own volumes (the other's 'requested' events exist: the owner sees them).
        var aEvents = await new VolumeRequests(Store(_aCs)).ListEventsAsync(null, 1000);
        Assert.Contains(aEvents, e => e.VolumeId == _va.Id);
        Assert.DoesNotContain(aEvents, e => e.VolumeId == _vb.Id || e.VolumeId is null);
        Assert.True(await OwnerCountAsync($"SELECT count(*) FROM bs.events WHERE volume_id = '{_vb.Id}'") > 0);
    }

    [Fact]
    public async Task The_other_projects_CHAP_secret_events_and_quota_cannot_be_read()
    {
        Assert.Empty(await SecuredDatabase.ColumnAsync(_aCs, "SELECT auth_secret FROM bs.attachment_secrets"));
        Assert.Single(await SecuredDatabase.ColumnAsync(_bCs, "SELECT auth_secret FROM bs.attachment_secrets"));
        Assert.Equal(1, await OwnerCountAsync($"SELECT count(*) FROM bs.attachment_secrets WHERE attachment_id = '{_ab.Id}'"));
        Assert.Empty(await SecuredDatabase.ColumnAsync(_aCs, $"SELECT id FROM bs.events WHERE volume_id = '{_vb.Id}'"));
        Assert.Empty(await SecuredDatabase.ColumnAsync(_aCs, "SELECT id FROM bs.events WHERE volume_id IS NULL"));

        await new QuotaRequests(Store(db.OperatorCs)).SetAsync(_b, null, new Dictionary<string, long> { ["volumes"] = 7 });
        Assert.Empty(await SecuredDatabase.ColumnAsync(_aCs, $"SELECT resource FROM bs.quotas WHERE project = '{_b}'"));
        Assert.Empty(await SecuredDatabase.ColumnAsync(_aCs, $"SELECT project FROM bs.quota_usage WHERE project = '{_b}'"));
        var aLines = await new QuotaRequests(Store(_aCs)).ListAsync(null, usage: true);
        Assert.All(aLines, l => Assert.Equal(_a, l.Project));
        Assert.Equal(1L, aLines.Single(l => l.VolumeType is null && l.Resource == QuotaResource.Volumes).InUse);
        var bVolumes = (await new QuotaRequests(Store(_bCs)).ListAsync(null, usage: true)).Single(l => l.VolumeType is null && l.Resource == QuotaResource.Volumes);
        Assert.Equal((7L, "project"), (bVolumes.Limit, bVolumes.Source));
    }

    [Fact]
    public async Task Writes_to_the_other_project_are_denied_or_change_nothing()
    {
        var aVolumes = new VolumeRequests(Store(_aCs));
        Assert.Equal(ErrorIds.VolumeNotFound, (await Assert.ThrowsAsync<BlockStoreException>(() => aVolumes.RequestDeleteAsync(_vb.Id))).ErrorId);
        Assert.Equal(ErrorIds.VolumeNotFound, (await Assert.ThrowsAsync<BlockStoreException>(() => aVolumes.RequestExtendAsync(_vb.Id, 5))).ErrorId);
        Assert.Equal(ErrorIds.SnapshotNotFound,
            (await Assert.ThrowsAsync<BlockStoreException>(() => new SnapshotRequests(Store(_aCs)).RequestDeleteAsync(_sb.Id))).ErrorId);
        Assert.Equal(ErrorIds.VolumeNotFound,
            (await Assert.ThrowsAsync<BlockStoreException>(() => new SnapshotRequests(Store(_aCs)).CreateAsync(_vb.Id, "sneaky", null, false))).ErrorId);

        // Into the other project by name: refused by the database (row-level security), nothing written.
        var denied = await Assert.ThrowsAsync<BlockStoreException>(() => aVolumes.CreateAsync("in-b", 1, null, null, false, _b, null));
        Assert.Equal(ErrorIds.PermissionDenied, denied.ErrorId);
        Assert.Equal(0, await OwnerCountAsync("SELECT count(*) FROM bs.volumes WHERE name = 'in-b'"));

        // Raw SQL: an update of the other's rows finds none; an insert is refused.
        Assert.Equal(0, await SecuredDatabase.ExecAsync(_aCs, $"UPDATE bs.volumes SET status = 'deleted' WHERE id = '{_vb.Id}'"));
        Assert.Equal(0, await SecuredDatabase.ExecAsync(_aCs, $"UPDATE bs.snapshots SET status = 'deleted' WHERE id = '{_sb.Id}'"));
        Assert.Equal(0, await SecuredDatabase.ExecAsync(_aCs, $"UPDATE bs.attachments SET status = 'detached' WHERE id = '{_ab.Id}'"));
        await Assert.ThrowsAsync<PostgresException>(() => SecuredDatabase.ExecAsync(_aCs,
            $"INSERT INTO bs.operations (volume_id, kind, stage, host) VALUES ('{_vb.Id}', 'delete', 'scheduled', '{db.Node1}')"));
        await Assert.ThrowsAsync<PostgresException>(() => SecuredDatabase.ExecAsync(_aCs,
            $"INSERT INTO bs.events (volume_id, kind, message) VALUES ('{_vb.Id}', 'fake', 'not mine')"));
        Assert.Equal(VolumeStatus.Attaching, (await SecuredDatabase.ColumnAsync(db.OwnerCs, $"SELECT status FROM bs.volumes WHERE id = '{_vb.Id}'"))[0]);
        Assert.Equal("creating", (await SecuredDatabase.ColumnAsync(db.OwnerCs, $"SELECT status FROM bs.snapshots WHERE id = '{_sb.Id}'"))[0]);
        Assert.Equal("attaching", (await SecuredDatabase.ColumnAsync(db.OwnerCs, $"SELECT status FROM bs.attachments WHERE id = '{_ab.Id}'"))[0]);
        Assert.Equal(0, await OwnerCountAsync($"SELECT count(*) FROM bs.operations WHERE volume_id = '{_vb.Id}' AND kind = 'delete'"));
    }

    [Fact]
    public async Task Names_are_unique_within_a_project_so_a_tenant_learns_nothing_from_another_projects_names()
    {
        // B uses "vol-b"; A may use it too, and the operator sees both.
        var mine = await new VolumeRequests(Store(_aCs)).CreateAsync("vol-b", 1, null, null);
        Assert.Equal(_a, mine.Project);
        Assert.Equal(ErrorIds.VolumeNameInUse, (await Assert.ThrowsAsync<BlockStoreException>(
            () => new VolumeRequests(Store(_aCs)).CreateAsync("vol-b", 1, null, null))).ErrorId);
        Assert.Equal(2, (await new VolumeRequests(Store(db.OperatorCs)).ListAsync(new VolumeFilter(NamePatterns: ["vol-b"]))).Count);
        await new VolumeRequests(Store(_aCs)).RequestDeleteAsync(mine.Id);
    }

    [Fact]
    public async Task A_tenant_cannot_release_quota_by_marking_its_own_placed_volume_deleted_or_smaller()
    {
        await Assert.ThrowsAsync<PostgresException>(() => SecuredDatabase.ExecAsync(_aCs, $"UPDATE bs.volumes SET status = 'deleted' WHERE id = '{_va.Id}'"));
        await SecuredDatabase.ExecAsync(db.OwnerCs, $"UPDATE bs.volumes SET size_gib = 2 WHERE id = '{_va.Id}'");
        await Assert.ThrowsAsync<PostgresException>(() => SecuredDatabase.ExecAsync(_aCs, $"UPDATE bs.volumes SET size_gib = 1 WHERE id = '{_va.Id}'"));
        await Assert.ThrowsAsync<PostgresException>(() => SecuredDatabase.ExecAsync(_bCs, $"UPDATE bs.snapshots SET status = 'deleted' WHERE id = '{_sb.Id}'"));
        Assert.Equal("available|2", (await SecuredDatabase.ColumnAsync(db.OwnerCs, $"SELECT status || '|' || size_gib FROM bs.volumes WHERE id = '{_va.Id}'"))[0]);
        Assert.Equal("creating", (await SecuredDatabase.ColumnAsync(db.OwnerCs, $"SELECT status FROM bs.snapshots WHERE id = '{_sb.Id}'"))[0]);
        await SecuredDatabase.ExecAsync(db.OwnerCs, $"UPDATE bs.volumes SET size_gib = 1 WHERE id = '{_va.Id}'");
    }

    [Fact]
    public async Task A_tenant_cannot_raise_its_quota_change_projects_types_or_services()
    {
        var quotas = new QuotaRequests(Store(_aCs));
        Assert.Equal(ErrorIds.PermissionDenied, (await Assert.ThrowsAsync<BlockStoreException>(
            () => quotas.SetAsync(_a, null, new Dictionary<string, long> { ["volumes"] = 1000 }))).ErrorId);
        Assert.Equal(ErrorIds.PermissionDenied, (await Assert.ThrowsAsync<BlockStoreException>(
            () => quotas.SetAsync(null, null, new Dictionary<string, long> { ["volumes"] = 1000 }))).ErrorId);
        Assert.Equal(0, await OwnerCountAsync($"SELECT count(*) FROM bs.quotas WHERE project = '{_a}' OR hard_limit = 1000"));
        Assert.Equal(ErrorIds.PermissionDenied, (await Assert.ThrowsAsync<BlockStoreException>(
            () => new ProjectRequests(Store(_aCs)).CreateAsync("mine-too", null))).ErrorId);
        Assert.Equal(ErrorIds.PermissionDenied, (await Assert.ThrowsAsync<BlockStoreException>(
            () => new VolumeTypeRequests(Store(_aCs)).CreateAsync("mine", null, new Dictionary<string, string>(), false))).ErrorId);
        await Assert.ThrowsAsync<PostgresException>(() => SecuredDatabase.ExecAsync(_aCs, "UPDATE bs.services SET disabled = true"));
        await Assert.ThrowsAsync<PostgresException>(() => SecuredDatabase.ExecAsync(_aCs, $"UPDATE bs.volumes SET project = '{_b}' WHERE id = '{_va.Id}'"));
        Assert.Equal(_a, (await SecuredDatabase.ColumnAsync(db.OwnerCs, $"SELECT project FROM bs.volumes WHERE id = '{_va.Id}'"))[0]);
        Assert.Equal([_a], await SecuredDatabase.ColumnAsync(_aCs, "SELECT bs.current_project()"));
    }

    [Fact]
    public async Task A_tenant_deletes_its_own_volume_and_registering_again_rotates_the_password()
    {
        var extra = await new VolumeRequests(Store(_aCs)).CreateAsync("vol-a2", 1, null, null);
        Assert.Equal(VolumeStatus.Deleted, (await new VolumeRequests(Store(_aCs)).RequestDeleteAsync(extra.Id)).Status);

        // A third project, so the other tests keep their logins.
        var c = _a.Replace("-a", "-c", StringComparison.Ordinal);
        await new ProjectRequests(Store(db.OperatorCs)).CreateAsync(c, null);
        var tenants = new TenantRegistry(Store(db.OperatorCs));
        var first = await tenants.RegisterAsync(c);
        db.Track(first.Role);
        var firstCs = db.RoleCs(first.Role, first.Password);
        Assert.Equal([c], await SecuredDatabase.ColumnAsync(firstCs, "SELECT bs.current_project()"));
        var again = await tenants.RegisterAsync(c);
        Assert.Equal(first.Role, again.Role);
        await Assert.ThrowsAnyAsync<Exception>(() => SecuredDatabase.ColumnAsync(firstCs, "SELECT 1"));
        Assert.Equal([c], await SecuredDatabase.ColumnAsync(db.RoleCs(again.Role, again.Password), "SELECT bs.current_project()"));
        Assert.Equal(first.Role, await tenants.UnregisterAsync(c));
        Assert.Null(await tenants.RoleOfAsync(c));
        Assert.Equal(ErrorIds.ProjectNotFound, (await Assert.ThrowsAsync<BlockStoreException>(() => tenants.RegisterAsync("no-such-project"))).ErrorId);

        // Removing a project removes its tenant login with it.
        var d = _a.Replace("-a", "-d", StringComparison.Ordinal);
        await new ProjectRequests(Store(db.OperatorCs)).CreateAsync(d, null);
        var dRole = (await tenants.RegisterAsync(d)).Role;
        db.Track(dRole);
        await new ProjectRequests(Store(db.OperatorCs)).RemoveAsync(d);
        Assert.Null(await tenants.RoleOfAsync(d));
        Assert.Empty(await SecuredDatabase.ColumnAsync(db.OwnerCs, $"SELECT rolname FROM pg_roles WHERE rolname = '{dRole}'"));
    }
}
