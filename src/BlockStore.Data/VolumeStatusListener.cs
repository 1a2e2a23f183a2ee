using Npgsql;

namespace BlockStore.Data;

/// <summary>
/// Wakes a waiting cmdlet as soon as one of its volumes reaches a final status: the agent and the
/// scheduler NOTIFY the volume id when they write one. Waiting on a notification instead of a
/// poll timer saves up to a poll interval on every -Wait. It is only a hint: the waiter still
/// re-reads the volumes, and still polls at a slow pace in case a notification is missed.
/// </summary>
public sealed class VolumeStatusListener : IAsyncDisposable
{
    private readonly NpgsqlConnection _conn;
    private readonly HashSet<Guid> _changed = [];
    // The LISTEN connection failed: waits only sleep (the callers poll anyway).
    private bool _broken;

    private VolumeStatusListener(NpgsqlConnection conn)
    {
        _conn = conn;
        _conn.Notification += (_, e) =>
        {
            if (Guid.TryParse(e.Payload, out var id))
            {
                lock (_changed)
                {
                    _changed.Add(id);
                }
            }
        };
    }

    internal const string ListenSql = $"LISTEN {Channels.VolumeStatus}";

    /// <summary>
    /// A listener on <paramref name="conn"/>, whose LISTEN the caller sends (with a request, in the
    /// same round trip): it takes notifications from now on and owns the connection.
    /// </summary>
    internal static VolumeStatusListener On(NpgsqlConnection conn) => new(conn);

    internal static async Task<VolumeStatusListener> StartAsync(StoreConnection store, CancellationToken ct)
    {
        var conn = await store.OpenAsync(ct).ConfigureAwait(false);
        try
        {
            await using var cmd = new NpgsqlCommand(ListenSql, conn);
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return new VolumeStatusListener(conn);
        }
        catch
        {
            await conn.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Returns true as soon as a change of one of <paramref name="ids"/> has been signalled since the
    /// last call, false when <paramref name="timeout"/> passes first.
    /// </summary>
    public async Task<bool> WaitAsync(IReadOnlyCollection<Guid> ids, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            lock (_changed)
            {
                if (_changed.Overlaps(ids))
                {
                    _changed.Clear();
                    return true;
                }

                _changed.Clear();
            }

            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                return false;
            }

            if (_broken)
            {
                await Task.Delay(left, ct).ConfigureAwait(false);
                return false;
            }

            try
            {
                // Whole milliseconds, at least 1: Npgsql reads a timeout of 0 ms as "wait forever".
                await _conn.WaitAsync(Math.Max(1, (int)Math.Ceiling(left.TotalMilliseconds)), ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is NpgsqlException || StoreConnection.IsUnavailable(e))
            {
                // The server ended the LISTEN connection (a restart, a crash, a failover). A
                // notification is only a hint: sleep out the pause, and let the caller's next poll
                // (through StoreConnection) find the new primary or say StoreUnavailable, with its
                // ErrorId. A raw PostgresException used to escape the -Wait of the cmdlets here.
                _broken = true;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _conn.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (_broken && (e is NpgsqlException || StoreConnection.IsUnavailable(e)))
        {
            // Closing a connection the server already ended: nothing left to release.
        }
    }
}
