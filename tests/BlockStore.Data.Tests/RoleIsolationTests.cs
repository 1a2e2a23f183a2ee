using BlockStore.Core;
using BlockStore.Data;
using Npgsql;

namespace BlockStore.Data.Tests;

/// <summary>
/// Logged in as each runtime role: a host's agent sees and changes only its own rows, the
/// scheduler places but cannot run, the reader changes nothing. Every "cannot" is checked
/// against rows that exist, so a test fails if a policy lets them through.
/// </summary>
public sealed class RoleIsolationTests(SecuredDatabase db) : IClassFixture<SecuredDatabase>, IAsyncLifetime
{
    private Guid _v1, _v2;
    private long _op1, _op2;

    public async Task InitializeAsync()
    {
        await db.SeedServicesAsync();
        (_v1, _op1) = await db.SeedVolumeAsync(db.Node1);
        (_v2, _op2) = await db.SeedVolumeAsync(db.Node2);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Agent_sees_only_its_own_host()
    {
        Assert.Equal([db.Node1], (await SecuredDatabase.ColumnAsync(db.Node1Cs, "SELECT DISTINCT host FROM bs.services")));
        Assert.DoesNotContain(db.Node2, await SecuredDatabase.ColumnAsync(db.Node1Cs, "SELECT coalesce(host, '') FROM bs.volumes"));
        Assert.DoesNotContain(db.Node2, await SecuredDatabase.ColumnAsync(db.Node1Cs, "SELECT coalesce(host, '') FROM bs.operations"));
        Assert.Empty(await SecuredDatabase.ColumnAsync(db.Node1Cs, $"SELECT id FROM bs.volumes WHERE id = '{_v2}'"));
        Assert.Empty(await SecuredDatabase.ColumnAsync(db.Node1Cs, $"SELECT id FROM bs.operations WHERE id = {_op2}"));
        // Unplaced (pending) work is the scheduler's, not any host's.
        Assert.Empty(await SecuredDatabase.ColumnAsync(db.Node1Cs, "SELECT id FROM bs.operations WHERE stage = 'pending'"));
        Assert.Contains(_v1.ToString(), await SecuredDatabase.ColumnAsync(db.Node1Cs, "SELECT id FROM bs.volumes"));
        // The owner sees both, so the rows the agent missed do exist.
        Assert.Equal(2, (await SecuredDatabase.ColumnAsync(db.OwnerCs, $"SELECT id FROM bs.volumes WHERE id IN ('{_v1}', '{_v2}')")).Count);
    }

    [Fact]
    public async Task Agent_sees_only_its_own_identity_and_no_events()
    {
        Assert.Equal([db.Node1], await SecuredDatabase.ColumnAsync(db.Node1Cs, "SELECT host FROM bs.host_roles"));
        await SecuredDatabase.DeniedAsync(db.Node1Cs, "SELECT * FROM bs.events");
    }

    [Fact]
    public async Task Agent_cannot_change_another_hosts_rows()
    {
        Assert.Equal(0, await SecuredDatabase.ExecAsync(db.Node1Cs, $"UPDATE bs.operations SET stage = 'running' WHERE id = {_op2}"));
        Assert.Equal(0, await SecuredDatabase.ExecAsync(db.Node1Cs, $"UPDATE bs.volumes SET status = 'available' WHERE id = '{_v2}'"));
        Assert.Equal(0, await SecuredDatabase.ExecAsync(db.Node1Cs, $"UPDATE bs.services SET heartbeat_at = now() WHERE host = '{db.Node2}'"));
        Assert.Equal(["scheduled"], await SecuredDatabase.ColumnAsync(db.OwnerCs, $"SELECT stage FROM bs.operations WHERE id = {_op2}"));
        Assert.Equal(["creating"], await SecuredDatabase.ColumnAsync(db.OwnerCs, $"SELECT status FROM bs.volumes WHERE id = '{_v2}'"));
    }

    [Fact]
    public async Task Agent_cannot_move_its_rows_to_another_host_or_place_work()
    {
        // host is not among the agent's updatable columns; and the policies' WITH CHECK would refuse it too.
        await SecuredDatabase.DeniedAsync(db.Node1Cs, $"UPDATE bs.operations SET host = '{db.Node2}' WHERE id = {_op1}");
        await SecuredDatabase.DeniedAsync(db.Node1Cs, $"UPDATE bs.volumes SET host = '{db.Node2}' WHERE id = '{_v1}'");
        await SecuredDatabase.DeniedAsync(db.Node1Cs, $"UPDATE bs.services SET host = '{db.Node2}' WHERE host = '{db.Node1}'");
        // No placements, no new work, no deletes.
        await SecuredDatabase.DeniedAsync(db.Node1Cs, $"INSERT INTO bs.operations (volume_id, kind, stage, host) VALUES ('{_v1}', 'delete', 'scheduled', '{db.Node1}')");
        await SecuredDatabase.DeniedAsync(db.Node1Cs, $"INSERT INTO bs.volumes (id, name, size_gib, status, host) VALUES (gen_random_uuid(), 'x', 1, 'creating', '{db.Node1}')");
        await SecuredDatabase.DeniedAsync(db.Node1Cs, $"DELETE FROM bs.operations WHERE id = {_op1}");
        // Its own service row, but as another host, or as a scheduler: refused by WITH CHECK.
        await SecuredDatabase.DeniedAsync(db.Node1Cs, $"INSERT INTO bs.services (host, service) VALUES ('{db.Node2}x', 'volume')");
        await SecuredDatabase.DeniedAsync(db.Node1Cs, $"INSERT INTO bs.services (host, service) VALUES ('{db.Node1}', 'scheduler')");
        // Nor may it write events in another host's name, or as another actor.
        await SecuredDatabase.DeniedAsync(db.Node1Cs, $"INSERT INTO bs.events (host, kind, message) VALUES ('{db.Node2}', 'x', 'forged')");
        await SecuredDatabase.DeniedAsync(db.Node1Cs, $"INSERT INTO bs.events (host, kind, message, actor) VALUES ('{db.Node1}', 'x', 'forged', 'admin')");
    }

    [Fact]
    public async Task Agent_cannot_enable_disable_or_freeze_itself()
    {
        await SecuredDatabase.DeniedAsync(db.Node1Cs, $"UPDATE bs.services SET disabled = false WHERE host = '{db.Node1}'");
        await SecuredDatabase.DeniedAsync(db.Node1Cs, $"UPDATE bs.services SET frozen = false WHERE host = '{db.Node1}'");
        await SecuredDatabase.DeniedAsync(db.Node1Cs, $"UPDATE bs.services SET log_level = 'Trace' WHERE host = '{db.Node1}'");
        await SecuredDatabase.DeniedAsync(db.Node1Cs, "UPDATE bs.settings SET value = '999999' WHERE key = 'service_down_seconds'");
    }

    [Fact]
    public async Task Agent_identity_cannot_be_changed_by_a_setting()
    {
        await using var conn = new NpgsqlConnection(db.Node1Cs);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(
            $"SELECT set_config('bs.host', '{db.Node2}', false), set_config('application_name', '{db.Node2}', false); " +
            $"SELECT count(*) FROM bs.volumes WHERE id = '{_v2}'", conn);
        await using var r = await cmd.ExecuteReaderAsync();
        await r.NextResultAsync();
        await r.ReadAsync();
        Assert.Equal(0L, r.GetInt64(0));
    }

    [Fact]
    public async Task Agent_cannot_register_or_unregister_hosts()
    {
        await SecuredDatabase.DeniedAsync(db.Node1Cs, $"SELECT bs.unregister_host('{db.Node2}')");
        await SecuredDatabase.DeniedAsync(db.Node1Cs, $"SELECT bs.register_host('{db.Node1}x', '{Scram.Verifier("x")}')");
        await SecuredDatabase.DeniedAsync(db.Node1Cs, $"INSERT INTO bs.host_roles (role, host) VALUES ('{db.Node1Role}', '{db.Node2}')");
    }

    [Fact]
    public async Task Scheduler_places_but_cannot_run_operations()
    {
        var (_, pending) = await db.SeedVolumeAsync(null);
        await SecuredDatabase.DeniedAsync(db.SchedulerCs, $"UPDATE bs.operations SET lease_owner = 'me' WHERE id = {pending}");
        await SecuredDatabase.DeniedAsync(db.SchedulerCs, $"UPDATE bs.operations SET stage = 'running' WHERE id = {pending}");
        await SecuredDatabase.DeniedAsync(db.SchedulerCs, $"UPDATE bs.operations SET stage = 'succeeded' WHERE id = {pending}");
        // Placed work is no longer the scheduler's: it can neither re-assign nor finish it.
        Assert.Equal(0, await SecuredDatabase.ExecAsync(db.SchedulerCs, $"UPDATE bs.operations SET host = '{db.Node2}' WHERE id = {_op1}"));
        await SecuredDatabase.DeniedAsync(db.SchedulerCs, $"UPDATE bs.volumes SET status = 'available' WHERE id = '{_v1}'");
        await SecuredDatabase.DeniedAsync(db.SchedulerCs, $"UPDATE bs.services SET disabled = true WHERE host = '{db.Node1}'");
        await SecuredDatabase.DeniedAsync(db.SchedulerCs, $"UPDATE bs.services SET heartbeat_at = now() WHERE host = '{db.Node1}'");
        await SecuredDatabase.DeniedAsync(db.SchedulerCs, $"INSERT INTO bs.operations (volume_id, kind, stage) VALUES ('{_v1}', 'delete', 'pending')");
        Assert.Equal([db.Node1], await SecuredDatabase.ColumnAsync(db.OwnerCs, $"SELECT host FROM bs.operations WHERE id = {_op1}"));
    }

    public static TheoryData<string> Writes => new()
    {
        "INSERT INTO bs.volumes (id, name, size_gib, status) VALUES (gen_random_uuid(), 'r', 1, 'creating')",
        "UPDATE bs.volumes SET status = 'error'",
        "DELETE FROM bs.volumes",
        "UPDATE bs.operations SET stage = 'failed'",
        "UPDATE bs.services SET disabled = true",
        "DELETE FROM bs.events",
        "INSERT INTO bs.events (kind, message) VALUES ('x', 'y')",
        "UPDATE bs.settings SET value = '1'",
        "DELETE FROM bs.host_roles",
        "SELECT bs.unregister_host('x')",
    };

    [Theory]
    [MemberData(nameof(Writes))]
    public async Task Reader_cannot_change_anything(string sql) =>
        await SecuredDatabase.DeniedAsync(db.ReaderCs, sql);

    [Fact]
    public async Task Reader_reads_everything_but_no_secret()
    {
        Assert.Contains(db.Node2, await SecuredDatabase.ColumnAsync(db.ReaderCs, "SELECT host FROM bs.services"));
        Assert.Contains(_v2.ToString(), await SecuredDatabase.ColumnAsync(db.ReaderCs, "SELECT id FROM bs.volumes"));
        await SecuredDatabase.DeniedAsync(db.ReaderCs, "SELECT rolpassword FROM pg_authid");
    }

    [Fact]
    public async Task Events_are_append_only_and_signed_by_the_login_role()
    {
        await SecuredDatabase.ExecAsync(db.OperatorCs, "INSERT INTO bs.events (kind, message) VALUES ('note', 'by the operator')");
        var actor = await SecuredDatabase.ColumnAsync(db.OwnerCs, "SELECT actor FROM bs.events WHERE kind = 'note'");
        Assert.Equal([new NpgsqlConnectionStringBuilder(db.OperatorCs).Username!], actor);
        await SecuredDatabase.DeniedAsync(db.OperatorCs, "INSERT INTO bs.events (kind, message, actor) VALUES ('note', 'forged', 'someone-else')");
        await SecuredDatabase.DeniedAsync(db.OperatorCs, "UPDATE bs.events SET message = 'rewritten'");
        await SecuredDatabase.DeniedAsync(db.OperatorCs, "DELETE FROM bs.events");
    }

    public static TheoryData<string, string> Ddl()
    {
        var data = new TheoryData<string, string>();
        string[] statements =
        [
            "CREATE TABLE bs.evil (x int)",
            "CREATE TABLE public.evil (x int)",
            "CREATE SCHEMA evil",
            "CREATE FUNCTION bs.evil() RETURNS int LANGUAGE sql AS 'SELECT 1'",
            "CREATE VIEW public.evil AS SELECT 1 AS x",
            "ALTER TABLE bs.volumes ADD COLUMN evil int",
            "ALTER TABLE bs.volumes DISABLE ROW LEVEL SECURITY",
            "ALTER TABLE bs.operations NO FORCE ROW LEVEL SECURITY",
            "DROP POLICY agent_own ON bs.volumes",
            "DROP TABLE bs.events",
            "DROP FUNCTION bs.current_host()",
            "CREATE ROLE evil LOGIN SUPERUSER",
            "GRANT bs_operator TO CURRENT_USER",
        ];
        foreach (var role in new[] { "operator", "reader", "scheduler", "agent" })
        {
            foreach (var s in statements)
            {
                data.Add(role, s);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Ddl))]
    public async Task No_runtime_role_can_run_ddl(string role, string sql)
    {
        var cs = role switch
        {
            "operator" => db.OperatorCs,
            "reader" => db.ReaderCs,
            "scheduler" => db.SchedulerCs,
            _ => db.Node1Cs,
        };
        await SecuredDatabase.DeniedAsync(cs, sql);
    }
}
