using BlockStore.Core;
using BlockStore.Data;
using Npgsql;

namespace BlockStore.Data.Tests;

/// <summary>
/// The product's own queries work under the least-privilege roles: a volume goes from request to
/// available to deleted with the operator, scheduler and agent each logged in as itself.
/// </summary>
public sealed class RuntimeRolesTests(SecuredDatabase db) : IClassFixture<SecuredDatabase>
{
    [Fact]
    public async Task A_volume_lives_and_dies_under_the_runtime_roles()
    {
        var node1 = new StoreConnection(db.Node1Cs);
        var node2 = new StoreConnection(db.Node2Cs);
        await new ServiceRegistry(node1).RegisterAsync(db.Node1, "volume", "nova", "1.0");
        await new ServiceRegistry(node2).RegisterAsync(db.Node2, "volume", "nova", "1.0");
        var report = new CapacityReport("thick", 100, 100, 0, true, null, 0, 20);
        await new ServiceRegistry(node1).HeartbeatAsync(db.Node1, "volume", report);
        await new ServiceRegistry(node2).HeartbeatAsync(db.Node2, "volume", report);
        await new ServiceRegistry(new StoreConnection(db.SchedulerCs)).RegisterAsync(db.SchedulerHost, "scheduler", "nova", "1.0");

        var volume = await new VolumeRequests(new StoreConnection(db.OperatorCs)).CreateAsync("life-1", 2, null, null);
        var placed = await new SchedulerQueue(new StoreConnection(db.SchedulerCs)).PlaceBatchAsync(db.SchedulerHost, 10);
        var host = Assert.Single(placed, p => p.VolumeId == volume.Id).Host;
        Assert.NotNull(host);
        var (mine, other) = host == db.Node1 ? (node1, node2) : (node2, node1);

        Assert.Empty(await new AgentQueue(other, host == db.Node1 ? db.Node2 : db.Node1).ClaimAsync("other", TimeSpan.FromSeconds(30), 8));
        var agent = new AgentQueue(mine, host!);
        var create = Assert.Single(await agent.ClaimAsync("me", TimeSpan.FromSeconds(30), 8));
        Assert.Equal(1, await agent.RenewLeaseAsync("me", [create.Id], TimeSpan.FromSeconds(30)));
        Assert.True(await agent.CompleteAsync("me", create, null));
        Assert.Equal(VolumeStatus.Available, (await new VolumeRequests(new StoreConnection(db.ReaderCs)).GetAsync(volume.Id))!.Status);

        await new VolumeRequests(new StoreConnection(db.OperatorCs)).RequestDeleteAsync(volume.Id);
        var delete = Assert.Single(await agent.ClaimAsync("me", TimeSpan.FromSeconds(30), 8));
        Assert.True(await agent.CompleteAsync("me", delete, null));
        Assert.Equal(VolumeStatus.Deleted, (await new VolumeRequests(new StoreConnection(db.ReaderCs)).GetAsync(volume.Id))!.Status);

        // Who did what: every event is signed by the login role that wrote it.
        var actors = await SecuredDatabase.ColumnAsync(db.OwnerCs, $"SELECT kind || '=' || actor FROM bs.events WHERE volume_id = '{volume.Id}' ORDER BY id");
        var roleOf = (string cs) => new NpgsqlConnectionStringBuilder(cs).Username;
        Assert.Contains($"requested={roleOf(db.OperatorCs)}", actors);
        Assert.Contains($"scheduled={roleOf(db.SchedulerCs)}", actors);
        Assert.Contains($"available={roleOf(host == db.Node1 ? db.Node1Cs : db.Node2Cs)}", actors);
    }

    [Fact]
    public async Task An_agent_cannot_register_or_heartbeat_as_another_host()
    {
        var node1 = new ServiceRegistry(new StoreConnection(db.Node1Cs));
        var e = await Assert.ThrowsAsync<BlockStoreException>(() => node1.RegisterAsync(db.Node2 + "-x", "volume", "nova", "1.0"));
        Assert.Equal(ErrorIds.PermissionDenied, e.ErrorId);
        var victim = db.Node2 + "-hb";
        await SecuredDatabase.ExecAsync(db.OwnerCs, $"INSERT INTO bs.services (host, service) VALUES ('{victim}', 'volume')");
        await node1.HeartbeatAsync(victim, "volume", null);
        Assert.Equal([""], await SecuredDatabase.ColumnAsync(db.OwnerCs, $"SELECT heartbeat_at FROM bs.services WHERE host = '{victim}'"));
    }

    [Fact]
    public async Task A_reader_gets_PermissionDenied_from_the_data_layer()
    {
        var e = await Assert.ThrowsAsync<BlockStoreException>(() =>
            new ServiceRegistry(new StoreConnection(db.ReaderCs)).ChangeAsync(db.Node1, "volume", ServiceChange.Disable, "no"));
        Assert.Equal(ErrorIds.PermissionDenied, e.ErrorId);
    }

    [Fact]
    public async Task A_runtime_role_checks_the_schema_but_does_not_migrate() =>
        Assert.Empty(SchemaMigrator.Migrate(db.SchedulerCs));
}

/// <summary>Register-BlockVolumeHost's data side: create, rotate, revoke.</summary>
public sealed class HostRegistryTests(SecuredDatabase db) : IClassFixture<SecuredDatabase>
{
    [Fact]
    public async Task Register_rotate_and_unregister_a_host()
    {
        var registry = new HostRegistry(new StoreConnection(db.OperatorCs));
        var host = db.Node1 + "-extra";
        var first = await registry.RegisterAsync(host);
        db.Track(first.Role);
        Assert.Equal("bs_agent_" + host, first.Role);
        Assert.Equal(["t"], await SecuredDatabase.ColumnAsync(db.OwnerCs,
            $"SELECT pg_has_role('{first.Role}', 'bs_agent', 'MEMBER')::text::char"));
        // Only a SCRAM verifier reached the server.
        Assert.StartsWith("SCRAM-SHA-256$4096:", (await SecuredDatabase.ColumnAsync(db.OwnerCs, $"SELECT rolpassword FROM pg_authid WHERE rolname = '{first.Role}'"))[0]);
        Assert.Equal(["1"], await SecuredDatabase.ColumnAsync(db.RoleCs(first.Role, first.Password), "SELECT 1"));

        var second = await registry.RegisterAsync(host);
        Assert.Equal(first.Role, second.Role);
        Assert.NotEqual(first.Password, second.Password);
        var old = await Assert.ThrowsAsync<PostgresException>(() => SecuredDatabase.ColumnAsync(db.RoleCs(first.Role, first.Password), "SELECT 1"));
        Assert.Equal(PostgresErrorCodes.InvalidPassword, old.SqlState);

        await new ServiceRegistry(new StoreConnection(db.RoleCs(second.Role, second.Password))).RegisterAsync(host, "volume", "nova", "1");
        Assert.Equal(first.Role, await registry.UnregisterAsync(host));
        Assert.Empty(await SecuredDatabase.ColumnAsync(db.OwnerCs, $"SELECT 1 FROM pg_roles WHERE rolname = '{first.Role}'"));
        Assert.Equal(["True|host unregistered"], await SecuredDatabase.ColumnAsync(db.OwnerCs,
            $"SELECT disabled::text || '|' || disabled_reason FROM bs.services WHERE host = '{host}'").ContinueWith(t => t.Result.Select(s => s.Replace("true", "True")).ToList()));
        var operatorRole = new NpgsqlConnectionStringBuilder(db.OperatorCs).Username;
        Assert.Equal([$"host-registered={operatorRole}", $"host-credentials-rotated={operatorRole}", $"host-unregistered={operatorRole}"],
            await SecuredDatabase.ColumnAsync(db.OwnerCs, $"SELECT kind || '=' || actor FROM bs.events WHERE host = '{host}' AND kind LIKE 'host-%' ORDER BY id"));
        Assert.Null(await registry.UnregisterAsync(host));
    }

    [Fact]
    public async Task Register_refuses_a_role_it_did_not_create()
    {
        var host = db.Node1 + "-squat";
        var role = "bs_agent_" + host;
        await SecuredDatabase.ExecAsync(db.OwnerCs, $"CREATE ROLE \"{role}\" NOLOGIN");
        db.Track(role);
        var e = await Assert.ThrowsAsync<BlockStoreException>(() => new HostRegistry(new StoreConnection(db.OperatorCs)).RegisterAsync(host));
        Assert.Equal(ErrorIds.HostRoleConflict, e.ErrorId);
    }

    [Fact]
    public async Task Register_refuses_a_plain_password_and_bad_host_names()
    {
        var e = await Assert.ThrowsAsync<PostgresException>(() => SecuredDatabase.ExecAsync(db.OperatorCs, "SELECT bs.register_host('plain-1', 'secret')"));
        Assert.Equal(PostgresErrorCodes.InvalidParameterValue, e.SqlState);
        e = await Assert.ThrowsAsync<PostgresException>(() => SecuredDatabase.ExecAsync(db.OperatorCs,
            $"SELECT bs.register_host('x\"; DROP ROLE bs_operator; --', '{Scram.Verifier("p")}')"));
        Assert.Equal(PostgresErrorCodes.InvalidParameterValue, e.SqlState);
        Assert.Equal(["1"], await SecuredDatabase.ColumnAsync(db.OwnerCs, "SELECT count(*) FROM pg_roles WHERE rolname = 'bs_operator'"));
    }
}
