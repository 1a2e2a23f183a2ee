namespace BlockStore.Data.Tests;

/// <summary>Migrations run by every host at start: a second run must change nothing.</summary>
public sealed class MigrationTests(TestDatabase db) : IClassFixture<TestDatabase>
{
    // Tables, columns with types and defaults, indexes, constraints and functions of schema bs.
    private const string SchemaSnapshot =
        "SELECT 'col ' || table_name || '.' || column_name || ' ' || data_type || ' ' || coalesce(column_default, '') FROM information_schema.columns WHERE table_schema = 'bs' " +
        "UNION ALL SELECT 'idx ' || indexname || ' ' || indexdef FROM pg_indexes WHERE schemaname = 'bs' " +
        "UNION ALL SELECT 'con ' || conname || ' ' || pg_get_constraintdef(c.oid) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'bs' " +
        "UNION ALL SELECT 'fun ' || p.proname || ' ' || md5(p.prosrc) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'bs' " +
        "ORDER BY 1";

    [Fact]
    public async Task Migrating_twice_applies_nothing_and_changes_nothing()
    {
        var before = await db.ColumnAsync(SchemaSnapshot);
        var settings = await db.ColumnAsync("SELECT key || '=' || value FROM bs.settings ORDER BY key");
        var journal = await db.ScalarAsync<int>("SELECT count(*) FROM public.blockstore_schema_versions");
        Assert.NotEmpty(before);

        Assert.Empty(SchemaMigrator.Migrate(db.ConnectionString));
        Assert.Empty(SchemaMigrator.Migrate(db.ConnectionString));

        Assert.Equal(before, await db.ColumnAsync(SchemaSnapshot));
        Assert.Equal(settings, await db.ColumnAsync("SELECT key || '=' || value FROM bs.settings ORDER BY key"));
        Assert.Equal(journal, await db.ScalarAsync<int>("SELECT count(*) FROM public.blockstore_schema_versions"));
    }

    [Fact]
    public async Task Concurrent_migrations_of_an_empty_database_serialise_on_the_advisory_lock()
    {
        // An empty database, so there is real work to race for: without the lock the runs would each
        // create the journal and apply the scripts (and fail on each other's tables).
        await using var empty = await db.CreateEmptyDatabaseAsync();
        // Dedicated threads released together, so the runs really overlap (the thread pool of a 2-core
        // machine would start them one after another).
        const int Runners = 4;
        using var start = new Barrier(Runners);
        var runs = await Task.WhenAll(Enumerable.Range(0, Runners).Select(_ => Task.Factory.StartNew(() =>
        {
            start.SignalAndWait();
            return SchemaMigrator.Migrate(empty.ConnectionString);
        }, TaskCreationOptions.LongRunning)));

        var applied = runs.SelectMany(r => r).ToList();
        Assert.Contains("BlockStore.Data.Migrations.0001_initial.sql", applied);
        Assert.Equal(applied.Count, applied.Distinct().Count());   // every script applied exactly once
        Assert.Single(runs, r => r.Count > 0);                       // by the run that held the lock; the others found nothing to do

        await using var conn = new Npgsql.NpgsqlConnection(empty.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new Npgsql.NpgsqlCommand("SELECT count(*) FROM public.blockstore_schema_versions", conn);
        Assert.Equal(applied.Count, Convert.ToInt32(await cmd.ExecuteScalarAsync()));
        await using var tables = new Npgsql.NpgsqlCommand("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'bs' AND table_name = 'volumes'", conn);
        Assert.Equal(1, Convert.ToInt32(await tables.ExecuteScalarAsync()));
    }

    [Fact]
    public async Task Host_admin_may_hand_out_bs_agent_membership_on_16_and_later_only()
    {
        // 0006: PostgreSQL 16+ need bs_host_admin to hold ADMIN on bs_agent (register_host creates
        // host roles IN ROLE bs_agent); without INHERIT or SET it cannot use bs_agent's rights.
        // On 15 the script does nothing and CREATEROLE is enough.
        Assert.Contains("BlockStore.Data.Migrations.0006_pg16_host_admin_grant.sql",
            await db.ColumnAsync("SELECT scriptname FROM public.blockstore_schema_versions"));
        var version = await db.ScalarAsync<int>("SELECT current_setting('server_version_num')::int");
        var membership = await db.ColumnAsync(
            version >= 160000
                ? "SELECT admin_option || ',' || inherit_option || ',' || set_option FROM pg_auth_members WHERE roleid = 'bs_agent'::regrole AND member = 'bs_host_admin'::regrole"
                : "SELECT admin_option::text FROM pg_auth_members WHERE roleid = 'bs_agent'::regrole AND member = 'bs_host_admin'::regrole");
        if (version >= 160000)
        {
            Assert.Contains("true,false,false", membership);
        }
        else
        {
            Assert.Empty(membership);
        }
    }
}
