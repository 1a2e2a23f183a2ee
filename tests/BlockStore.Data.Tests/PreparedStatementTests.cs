namespace BlockStore.Data.Tests;

/// <summary>
/// The module's sessions let Npgsql prepare their statements (issue 11: a pooled use no longer
/// starts with DISCARD ALL, which dropped every cached plan): the session is still reset between
/// uses, and a statement prepared before a schema change (an upgrade's migration) runs again after it.
/// </summary>
public sealed class PreparedStatementTests(TestDatabase db) : IClassFixture<TestDatabase>
{
    /// <summary>A store of its own (one pooled connection, so every use gets the same session).</summary>
    private StoreConnection PreparingStore() =>
        new(new Npgsql.NpgsqlConnectionStringBuilder(db.ConnectionString) { MinPoolSize = 0, MaxPoolSize = 1, ApplicationName = $"prep-{Guid.NewGuid():N}" }.ConnectionString,
            "blockstore-tests", prepareStatements: true);

    private static Task<T> ScalarAsync<T>(StoreConnection store, string sql) =>
        store.RunAsync(async conn =>
        {
            await using var cmd = new Npgsql.NpgsqlCommand(sql, conn);
            return (T)(await cmd.ExecuteScalarAsync())!;
        });

    [Fact]
    public async Task Statements_stay_prepared_across_pooled_uses_and_the_session_is_still_reset()
    {
        var store = PreparingStore();
        for (var i = 0; i < 8; i++)
        {
            Assert.Equal(1, await ScalarAsync<int>(store, "SELECT 1"));
        }

        Assert.True(await ScalarAsync<long>(store, "SELECT count(*) FROM pg_prepared_statements") > 0);
        // What DISCARD ALL reset is still reset: settings and LISTEN do not outlive a use.
        var timeout = await ScalarAsync<string>(store, "SHOW statement_timeout");
        await store.RunAsync(async conn =>
        {
            await using var cmd = new Npgsql.NpgsqlCommand("SET statement_timeout = 4321; LISTEN prep_test", conn);
            return await cmd.ExecuteNonQueryAsync();
        });
        Assert.NotEqual("4321ms", timeout);
        Assert.Equal(timeout, await ScalarAsync<string>(store, "SHOW statement_timeout"));
        Assert.Equal(0L, await ScalarAsync<long>(store, "SELECT count(*) FROM pg_listening_channels()"));
    }

    [Fact]
    public async Task A_statement_prepared_before_a_schema_change_runs_after_it()
    {
        await db.ExecuteAsync("DROP TABLE IF EXISTS public.prep_shape; CREATE TABLE public.prep_shape (a int); INSERT INTO public.prep_shape VALUES (1)");
        var store = PreparingStore();
        Task<int> ColumnsAsync() => store.RunAsync(async conn =>
        {
            await using var cmd = new Npgsql.NpgsqlCommand("SELECT * FROM public.prep_shape", conn);
            await using var reader = await cmd.ExecuteReaderAsync();
            return reader.FieldCount;
        });
        for (var i = 0; i < 8; i++)
        {
            Assert.Equal(1, await ColumnsAsync());
        }

        Assert.True(await ScalarAsync<long>(store, "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%prep_shape%'") > 0);
        // The prepared plan's result type changes under it: PostgreSQL refuses it (0A000) once.
        await db.ExecuteAsync("ALTER TABLE public.prep_shape ADD COLUMN b int");
        Assert.Equal(2, await ColumnsAsync());
    }
}
