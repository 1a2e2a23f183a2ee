using Npgsql;

namespace BlockStore.Data;

/// <summary>
/// Holds one dedicated connection that LISTENs on the given channels and calls back on each
/// notification. When the connection drops (database restart, network) it reconnects with
/// capped exponential backoff and LISTENs again, then reports a reconnect so callers can poll
/// for anything they missed meanwhile.
/// </summary>
public sealed class NotificationListener(StoreConnection store, IReadOnlyList<string> channels)
{
    /// <summary>Called with (channel, payload) for each notification.</summary>
    public event Action<string, string>? Notified;

    /// <summary>Called after every (re)connection, and with the error when a connection fails.</summary>
    public event Action<Exception?>? ConnectionChanged;

    public async Task RunAsync(CancellationToken ct)
    {
        // Failed connection attempts since the last good one: TransientRetry.ListenerReconnect's waits.
        var failures = 0;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await using var conn = await store.OpenAsync(ct).ConfigureAwait(false);
                conn.Notification += (_, e) => Notified?.Invoke(e.Channel, e.Payload);
                foreach (var channel in channels)
                {
                    // Channel names are our constants, never user text.
                    await using var cmd = new NpgsqlCommand($"LISTEN {channel}", conn);
                    await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                failures = 0;
                ConnectionChanged?.Invoke(null);
                while (!ct.IsCancellationRequested)
                {
                    // The timeout makes a silently dead connection show up as a failed keepalive query.
                    if (!await conn.WaitAsync(TimeSpan.FromSeconds(15), ct).ConfigureAwait(false))
                    {
                        await using var ping = new NpgsqlCommand("SELECT 1", conn);
                        await ping.ExecuteScalarAsync(ct).ConfigureAwait(false);
                    }
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                ConnectionChanged?.Invoke(e);
                try
                {
                    await Task.Delay(TransientRetry.ListenerReconnect.After(++failures), ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }
}
