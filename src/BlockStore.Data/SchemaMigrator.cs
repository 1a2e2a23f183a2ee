using DbUp;
using DbUp.Engine.Output;
using Npgsql;

namespace BlockStore.Data;

/// <summary>
/// Applies the versioned SQL scripts in Migrations/ with DbUp. Safe to run from every host at
/// start: an advisory lock serialises concurrent runs, and the journal makes a second run a no-op.
/// </summary>
public static class SchemaMigrator
{
    // Arbitrary but fixed: the advisory lock key that serialises migration runs.
    private const long MigrationLockKey = 0x426C6F636B5374;

    /// <summary>Returns the names of the scripts applied by this run (empty when up to date).</summary>
    public static IReadOnlyList<string> Migrate(string connectionString, Action<string>? log = null)
    {
        using var lockConn = new NpgsqlConnection(connectionString);
        lockConn.Open();
        using (var cmd = new NpgsqlCommand("SELECT pg_advisory_lock(@k)", lockConn))
        {
            cmd.Parameters.AddWithValue("k", MigrationLockKey);
            cmd.ExecuteNonQuery();
        }

        try
        {
            var canMigrate = CanMigrate(lockConn);
            var upgrader = DeployChanges.To
                .PostgresqlDatabase(connectionString)
                .WithScriptsEmbeddedInAssembly(typeof(SchemaMigrator).Assembly, name => name.Contains(".Migrations."))
                .JournalToPostgresqlTable("public", "blockstore_schema_versions")
                .WithTransactionPerScript()
                .LogTo(new CallbackLog(log))
                .Build();

            if (!canMigrate)
            {
                // A runtime role (scheduler, agent) may not run DDL: it only checks that the
                // schema is current, and says who must migrate when it is not.
                var pending = upgrader.GetScriptsToExecute();
                if (pending.Count > 0)
                {
                    throw new InvalidOperationException(
                        $"The database schema lacks {string.Join(", ", pending.Select(p => p.Name))} and the role " +
                        $"{new NpgsqlConnectionStringBuilder(connectionString).Username} may not change it: run " +
                        "'BlockStore.Scheduler migrate' with the schema owner's connection first.");
                }

                return [];
            }

            var result = upgrader.PerformUpgrade();
            if (!result.Successful)
            {
                throw new InvalidOperationException($"Schema migration failed in {result.ErrorScript?.Name}: {result.Error.Message}", result.Error);
            }

            return result.Scripts.Select(s => s.Name).ToList();
        }
        finally
        {
            using var cmd = new NpgsqlCommand("SELECT pg_advisory_unlock(@k)", lockConn);
            cmd.Parameters.AddWithValue("k", MigrationLockKey);
            cmd.ExecuteNonQuery();
        }
    }

    /// <summary>The schema owner can create in the database; runtime roles cannot.</summary>
    private static bool CanMigrate(NpgsqlConnection conn)
    {
        using var cmd = new NpgsqlCommand("SELECT has_database_privilege(current_database(), 'CREATE')", conn);
        return (bool)cmd.ExecuteScalar()!;
    }

    private sealed class CallbackLog(Action<string>? log) : IUpgradeLog
    {
        public void LogTrace(string format, params object[] args) { }
        public void LogDebug(string format, params object[] args) { }
        public void LogInformation(string format, params object[] args) => log?.Invoke(string.Format(format, args));
        public void LogWarning(string format, params object[] args) => log?.Invoke(string.Format(format, args));
        public void LogError(string format, params object[] args) => log?.Invoke(string.Format(format, args));
        public void LogError(Exception ex, string format, params object[] args) => log?.Invoke(string.Format(format, args) + ": " + ex.Message);
    }
}
