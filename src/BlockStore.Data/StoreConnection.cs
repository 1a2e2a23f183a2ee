using System.Collections.Concurrent;
using System.Net.Sockets;
using BlockStore.Core;
using Npgsql;

namespace BlockStore.Data;

/// <summary>
/// One pooled data source per connection string, and the single place where driver failures
/// that mean "the database is not reachable" become the StoreUnavailable error users see.
/// </summary>
public sealed class StoreConnection
{
    private static readonly ConcurrentDictionary<string, NpgsqlDataSource> Sources = new();

    /// <param name="connectionString">The user's or the host's connection string.</param>
    /// <param name="applicationName">Shown in pg_stat_activity (unless the string names one).</param>
    /// <param name="prepareStatements">
    /// Let Npgsql prepare the statements used most (Max Auto Prepare; unless the string sets it):
    /// the module's sessions (issue 11). Without it every pooled use starts with DISCARD ALL, which
    /// drops every cached plan, so each request planned its statements and the triggers' and
    /// functions' queries again; with prepared statements Npgsql resets the session without
    /// deallocating them (still UNLISTEN, RESET ALL, CLOSE ALL, advisory locks released).
    /// Measured in docs/benchmarks.md (issue 11, warm New-BlockVolume).
    /// </param>
    public StoreConnection(string connectionString, string applicationName = "blockstore", bool prepareStatements = false)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new BlockStoreException(ErrorIds.NotConnected, ErrorKind.ConnectionError,
                "No BlockStore database connection. Run Connect-BlockStore -ConnectionString '...' or set $env:BLOCKSTORE_CONNECTION.");
        }

        var builder = Parse(connectionString);
        builder.ApplicationName ??= applicationName;
        // Fail fast when the database is down: a cmdlet must not hang for the default 15 s.
        if (!connectionString.Contains("Timeout", StringComparison.OrdinalIgnoreCase))
        {
            builder.Timeout = 5;
        }

        if (prepareStatements && !connectionString.Contains("Auto Prepare", StringComparison.OrdinalIgnoreCase)
            && !connectionString.Contains("AutoPrepare", StringComparison.OrdinalIgnoreCase))
        {
            builder.MaxAutoPrepare = AutoPreparedStatements;
        }

        if (IsMultiHost(builder.Host) && !connectionString.Contains("Recheck", StringComparison.OrdinalIgnoreCase))
        {
            // After a failover the new primary is remembered as a standby until its cached state
            // expires (10 s by default), and Target Session Attributes=primary skips it meanwhile:
            // check again after 1 s so hosts and cmdlets find the new primary as soon as it is one.
            builder.HostRecheckSeconds = 1;
        }

        ConnectionString = builder.ConnectionString;
        DisplayName = IsMultiHost(builder.Host)
            ? $"{builder.Host}/{builder.Database} as {builder.Username}"
            : $"{builder.Host}:{builder.Port}/{builder.Database} as {builder.Username}";
        DataSource = Sources.GetOrAdd(ConnectionString, cs => NpgsqlDataSource.Create(cs));
    }

    /// <summary>How many statements a session of the module keeps prepared (Npgsql's LRU, per connection).</summary>
    public const int AutoPreparedStatements = 32;

    /// <summary>
    /// The same database through a pool of its own, named "&lt;application name&gt;-&lt;lane&gt;" in
    /// pg_stat_activity, for one path of a host that runs one transaction at a time and must be
    /// fast: the scheduler's placement passes, the agent's claims and completions (issue 11).
    /// Why: Npgsql hands out idle pooled connections first in, first out, so in a host's shared
    /// pool (heartbeats, reports, gauges, the work) each placement ran on another of its five or
    /// six sessions. Every PostgreSQL session plans the statements, the triggers' queries and the
    /// prepared statements for itself: a statement log of the lab showed the placement write at
    /// 5.5 and 3.3 ms on a session's first and second use against about 1 ms once warm. In its own
    /// pool the path keeps one session, warm from its first pass. At least one connection stays
    /// open (Minimum Pool Size 1), so a quiet cloud does not lose the warm session to pruning.
    /// A lane's session is not reset between uses (No Reset On Close): the paths given a lane set
    /// no session state (no SET, LISTEN, advisory lock or temporary table; every action is one
    /// transaction, which Npgsql still rolls back if it is left open), so the reset statement
    /// Npgsql sends before each reuse (RESET ALL, CLOSE ALL, UNLISTEN *, ...; 0.1-0.3 ms of the
    /// server's time in the lab's statement log) would only cost. Do not LISTEN on a lane.
    /// <paramref name="genericPlans"/>: the lane's sessions plan each prepared statement once
    /// (plan_cache_mode = force_generic_plan, sent as a startup option, so no statement and no reset
    /// undoes it). PostgreSQL otherwise keeps making a custom plan at every execution of a statement
    /// whose generic plan it estimates dearer, which the placement pass's statements with array
    /// parameters (the locked hosts' read, the assignment) are: their planning took 1.1-1.5 ms of a
    /// pass's 4.1-4.2 ms in PostgreSQL at 1,000 hosts, 0.3 ms with generic plans, and placements/s
    /// did not move (side by side, 2026-12-06, docs/benchmarks.md).
    /// </summary>
    public StoreConnection Lane(string lane, bool genericPlans = false)
    {
        var builder = Parse(ConnectionString);
        builder.ApplicationName = $"{builder.ApplicationName}-{lane}";
        builder.MinPoolSize = Math.Max(builder.MinPoolSize, 1);
        builder.NoResetOnClose = true;
        if (genericPlans)
        {
            builder.Options = string.IsNullOrWhiteSpace(builder.Options) ? GenericPlansOption : $"{builder.Options} {GenericPlansOption}";
        }

        return new StoreConnection(builder.ConnectionString, builder.ApplicationName);
    }

    /// <summary>The startup option of a lane with generic plans (PostgreSQL 12+).</summary>
    private const string GenericPlansOption = "-c plan_cache_mode=force_generic_plan";

    public string ConnectionString { get; }

    /// <summary>Host, port, database and user, without any secret: safe to print.</summary>
    public string DisplayName { get; }

    public NpgsqlDataSource DataSource { get; }

    /// <summary>True for a list of servers (Host=a:5432,b:5432), as for a Patroni cluster.</summary>
    private static bool IsMultiHost(string? host) => host is not null && host.Contains(',', StringComparison.Ordinal);

    /// <summary>Host, port, database and user: the parts that are safe to show.</summary>
    public (string? Host, int Port, string? Database, string? Username) Describe()
    {
        var b = new NpgsqlConnectionStringBuilder(ConnectionString);
        return (b.Host, b.Port, b.Database, b.Username);
    }

    /// <summary>Adds user and password to a connection string (from a PSCredential).</summary>
    public static string WithCredentials(string connectionString, string user, string password)
    {
        var builder = Parse(connectionString);
        builder.Username = user;
        builder.Password = password;
        return builder.ConnectionString;
    }

    /// <summary>The parsed connection string, or NotConnected saying why it is not one (never the raw driver exception).</summary>
    private static NpgsqlConnectionStringBuilder Parse(string connectionString)
    {
        try
        {
            return new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException e)
        {
            throw new BlockStoreException(ErrorIds.NotConnected, ErrorKind.ConnectionError,
                $"The BlockStore connection string is not valid: {e.Message}", null, e);
        }
    }

    /// <summary>Checks that the database answers and has the BlockStore schema.</summary>
    public Task<int> PingAsync(CancellationToken ct = default) =>
        RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand("SELECT count(*)::int FROM bs.settings", conn);
            try
            {
                return (int)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable || e.SqlState == PostgresErrorCodes.InvalidSchemaName)
            {
                throw new BlockStoreException(ErrorIds.StoreUnavailable, ErrorKind.ConnectionError,
                    $"The database {DisplayName} has no BlockStore schema. Run the scheduler's 'migrate' command (see README) first.", DisplayName, e);
            }
        }, ct);

    /// <summary>
    /// Why this connection's role escapes row-level security (superuser, BYPASSRLS, or owner of
    /// BlockStore tables), or null when it does not. Hosts warn about it at start.
    /// </summary>
    public Task<string?> PrivilegeWarningAsync(CancellationToken ct = default) =>
        RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand(
                "SELECT CASE WHEN r.rolsuper THEN 'is a superuser' WHEN r.rolbypassrls THEN 'has BYPASSRLS' " +
                "  WHEN EXISTS (SELECT 1 FROM pg_tables t WHERE t.schemaname = 'bs' AND t.tableowner = current_user) THEN 'owns the BlockStore tables' END " +
                "FROM pg_roles r WHERE r.rolname = current_user", conn);
            return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) as string;
        }, ct);

    /// <summary>
    /// Why the server can lose commits it acknowledged (synchronous_commit off, or local with a
    /// synchronous standby), or null when it cannot. Hosts warn about it at start.
    /// </summary>
    public Task<string?> DurabilityWarningAsync(CancellationToken ct = default) =>
        RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand(
                "SELECT current_setting('synchronous_commit'), current_setting('synchronous_standby_names')", conn);
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await reader.ReadAsync(ct).ConfigureAwait(false);
            return Durability.CommitRisk(reader.GetString(0), reader.GetString(1));
        }, ct);

    public async Task<NpgsqlConnection> OpenAsync(CancellationToken ct = default)
    {
        try
        {
            return await DataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
        }
        catch (Exception e) when (IsUnavailable(e))
        {
            throw Unavailable(e);
        }
    }

    /// <summary>Runs a database action, translating outage failures into StoreUnavailable.</summary>
    /// <remarks>
    /// Every action is one transaction (or none), so a deadlock or serialization failure, which
    /// rolls the whole transaction back, is retried from the start a few times.
    /// </remarks>
    public async Task<T> RunAsync<T>(Func<NpgsqlConnection, Task<T>> action, CancellationToken ct = default) =>
        (await RunCoreAsync(action, keep: false, ct).ConfigureAwait(false)).Result;

    /// <summary>
    /// As <see cref="RunAsync{T}"/>, but on success the connection the action ran on is not closed:
    /// the caller owns it (and disposes it). For a session state the action set up that must outlive
    /// it, such as a LISTEN committed with a request. On failure the connection is closed as usual.
    /// </summary>
    public async Task<(T Result, NpgsqlConnection Connection)> RunKeepingConnectionAsync<T>(Func<NpgsqlConnection, Task<T>> action, CancellationToken ct = default)
    {
        var (result, conn) = await RunCoreAsync(action, keep: true, ct).ConfigureAwait(false);
        return (result, conn!);
    }

    private async Task<(T Result, NpgsqlConnection? Connection)> RunCoreAsync<T>(Func<NpgsqlConnection, Task<T>> action, bool keep, CancellationToken ct)
    {
        var staleRetried = false;
        for (var attempt = 1; ; attempt++)
        {
            var conn = await OpenAsync(ct).ConfigureAwait(false);
            var kept = false;
            try
            {
                var result = await action(conn).ConfigureAwait(false);
                kept = keep;
                return (result, kept ? conn : null);
            }
            catch (PostgresException e) when (attempt < TransientRetry.ConflictAttempts && e.SqlState is PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure)
            {
                await Task.Delay(TransientRetry.Conflict.After(attempt), ct).ConfigureAwait(false);
            }
            catch (Exception e) when (!staleRetried && IsStalePooledConnection(e))
            {
                // A pooled connection to a server that restarted or failed over: the server had
                // closed it before our command (nothing of the action ran). Drop the pool and try
                // once more on a fresh connection, which finds the current primary; if there is
                // none, OpenAsync says StoreUnavailable.
                staleRetried = true;
                DataSource.Clear();
            }
            catch (Exception e) when (IsUnavailable(e))
            {
                throw Unavailable(e);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
            {
                // Least privilege at work (a reader asked to change something, an agent touched
                // another host's row): one clear error instead of a driver exception.
                throw PermissionDenied(e);
            }
            catch (PostgresException e) when (RefusedByDatabase(e) is { } refused)
            {
                throw refused;
            }
            finally
            {
                if (!kept)
                {
                    await conn.DisposeAsync().ConfigureAwait(false);
                }
            }
        }
    }

    /// <summary>
    /// The database's own refusals, raised by its triggers with BlockStore's SQLSTATEs (issue 13:
    /// quotas and projects are enforced there, for every client): the message is the database's,
    /// written for the user; the transaction was rolled back, so nothing was written.
    /// </summary>
    internal static BlockStoreException? RefusedByDatabase(PostgresException e) => e.SqlState switch
    {
        "BSQ01" => new BlockStoreException(ErrorIds.QuotaExceeded, ErrorKind.QuotaExceeded, e.MessageText, e.Detail, e),
        "BSP01" => new BlockStoreException(ErrorIds.ProjectNotFound, ErrorKind.ObjectNotFound,
            e.MessageText + " Create it with New-BlockStoreProject, or see Get-BlockStoreProject. Nothing was requested.", e.Detail, e),
        "BSZ01" => new BlockStoreException(ErrorIds.InvalidAvailabilityZone, ErrorKind.InvalidArgument, e.MessageText, e.Detail, e),
        _ => null,
    };

    /// <summary>
    /// The server ended this connection while it sat in the pool (shutdown, crash, demotion in a
    /// failover): the failure comes before the server ran anything of ours. 25006 is a write on a
    /// server that became a standby under the connection. Also a statement prepared on the
    /// connection (prepareStatements) whose result columns a schema change (an upgrade's migration)
    /// has changed since: refused with 0A000 "cached plan must not change result type" (raised by
    /// RevalidateCachedQuery, whatever the server's language) and its transaction rolled back; a
    /// fresh connection prepares it again.
    /// </summary>
    private static bool IsStalePooledConnection(Exception e) => e switch
    {
        PostgresException pg when pg.SqlState == PostgresErrorCodes.FeatureNotSupported =>
            pg.Routine == "RevalidateCachedQuery" || pg.MessageText.StartsWith("cached plan must not change result type", StringComparison.Ordinal),
        PostgresException pg => pg.SqlState is "57P01" or "57P02" or "57P03" or "25006",
        NpgsqlException { InnerException: IOException or SocketException or EndOfStreamException } => true,
        _ => false,
    };

    /// <summary>
    /// Opens a connection and a reader for a read that streams outside RunAsync; the caller disposes
    /// all three. As in RunAsync, a pooled connection the server closed while it sat in the pool (a
    /// restart or failover: nothing ran yet) is retried once on a fresh one, an outage is
    /// StoreUnavailable and a missing privilege PermissionDenied.
    /// </summary>
    public async Task<(NpgsqlConnection Connection, NpgsqlCommand Command, NpgsqlDataReader Reader)> OpenReaderAsync(
        Func<NpgsqlConnection, NpgsqlCommand> command, CancellationToken ct = default)
    {
        for (var staleRetried = false; ; staleRetried = true)
        {
            var conn = await OpenAsync(ct).ConfigureAwait(false);
            var cmd = command(conn);
            try
            {
                return (conn, cmd, await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false));
            }
            catch (Exception e)
            {
                await cmd.DisposeAsync().ConfigureAwait(false);
                await conn.DisposeAsync().ConfigureAwait(false);
                if (!staleRetried && IsStalePooledConnection(e))
                {
                    DataSource.Clear();
                    continue;
                }

                if (IsUnavailable(e))
                {
                    throw Unavailable(e);
                }

                if (e is PostgresException { SqlState: PostgresErrorCodes.InsufficientPrivilege } denied)
                {
                    throw PermissionDenied(denied);
                }

                throw;
            }
        }
    }

    /// <summary>
    /// One step of a read that streams outside RunAsync (a reader held open while its rows are
    /// used): an outage is StoreUnavailable and a missing privilege PermissionDenied, as in RunAsync.
    /// </summary>
    public async Task<T> TranslateAsync<T>(Func<Task<T>> step)
    {
        try
        {
            return await step().ConfigureAwait(false);
        }
        catch (Exception e) when (IsUnavailable(e))
        {
            throw Unavailable(e);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            throw PermissionDenied(e);
        }
    }

    private BlockStoreException PermissionDenied(PostgresException e) =>
        new(ErrorIds.PermissionDenied, ErrorKind.PermissionDenied,
            $"The database role {Describe().Username} may not do this ({e.MessageText}). " +
            "Connect with a role that has the privilege (e.g. a member of bs_operator for changes).", Describe().Username, e);

    public static bool IsUnavailable(Exception e) => e switch
    {
        BlockStoreException => false,
        // 25006: read-only transaction, i.e. the server is a standby (a failover is under way).
        PostgresException pg => pg.SqlState is "57P01" or "57P02" or "57P03" or "53300" or "08006" or "08001" or "08004" or "3D000" or "28P01" or "28000" or "25006",
        NpgsqlException { InnerException: SocketException or IOException or TimeoutException } => true,
        // A list of servers (Host=a,b): Npgsql reports every server's failure, or that none of the
        // reachable ones is the primary (mid-failover): no primary to talk to.
        NpgsqlException { InnerException: AggregateException } => true,
        NpgsqlException n when n.Message.StartsWith("No suitable host", StringComparison.Ordinal) => true,
        NpgsqlException n => n.IsTransient,
        SocketException or TimeoutException => true,
        _ => false,
    };

    private BlockStoreException Unavailable(Exception e)
    {
        // Idle pooled connections to a server that went away are dead too: drop them, so the
        // first calls after a restart open fresh connections instead of failing one by one.
        DataSource.Clear();
        return new(ErrorIds.StoreUnavailable, ErrorKind.ConnectionError,
            $"The BlockStore database at {DisplayName} is not reachable ({e.Message.TrimEnd('.')}). " +
            "Check that it is running, or connect elsewhere with Connect-BlockStore -ConnectionString '...' or $env:BLOCKSTORE_CONNECTION.",
            DisplayName, e);
    }
}
