using BlockStore.Core;
using Npgsql;

namespace BlockStore.Data;

/// <summary>
/// The snapshot row's state machine in the database (SnapshotStatus' rules): read it, lock it
/// (after its volume: the lock order of every snapshot request), move its status, and queue its
/// removal. Called by the request classes and the agent's queue, which never call each other.
/// </summary>
internal static class SnapshotTransitions
{
    public const string Columns =
        "s.id, s.volume_id, v.name, s.name, s.description, s.size_gib, s.status, s.status_reason, s.host, s.backend_type, s.created_at, s.updated_at";

    public const string From = "bs.snapshots s JOIN bs.volumes v ON v.id = s.volume_id";

    /// <summary>One snapshot read inside the caller's transaction (no lock), or none.</summary>
    public static Task<BlockVolumeSnapshot?> GetAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, Guid id, CancellationToken ct) =>
        ReadOneAsync(conn, tx, id, "", ct);

    public static Task<BlockVolumeSnapshot?> LockAsync(NpgsqlConnection conn, NpgsqlTransaction tx, Guid id, CancellationToken ct) =>
        ReadOneAsync(conn, tx, id, " FOR UPDATE OF s", ct);

    /// <summary>The same lock and read as <see cref="LockAsync"/>, as one statement of the caller's batch (its rows: <see cref="Read"/>).</summary>
    public static NpgsqlBatchCommand LockCommand(Guid id)
    {
        var cmd = new NpgsqlBatchCommand(SelectOne(" FOR UPDATE OF s"));
        cmd.Parameters.AddWithValue("id", id);
        return cmd;
    }

    /// <summary>Moves a snapshot's status, checked against SnapshotStatus' rules, with the reason users see.</summary>
    public static Task SetStatusAsync(NpgsqlConnection conn, NpgsqlTransaction tx, Guid id, string from, string to, string? reason, CancellationToken ct)
    {
        CheckMove(id, from, to);
        return StatusColumns.WriteAsync(conn, tx, "bs.snapshots", id, to, reason, ct);
    }

    /// <summary><see cref="SetStatusAsync"/> as one statement of the caller's batch, checked here as there.</summary>
    public static NpgsqlBatchCommand SetStatusCommand(Guid id, string from, string to, string? reason)
    {
        CheckMove(id, from, to);
        return StatusColumns.WriteCommand("bs.snapshots", id, to, reason);
    }

    private static void CheckMove(Guid id, string from, string to)
    {
        if (from != to && !SnapshotStatus.CanMove(from, to))
        {
            throw new InvalidOperationException($"Snapshot {id}: status {from} cannot move to {to}.");
        }
    }

    /// <summary>How many snapshots keep the volume from being removed (VolumeHasSnapshots).</summary>
    public static async Task<long> CountBlockingAsync(NpgsqlConnection conn, NpgsqlTransaction tx, Guid volumeId, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT count(*) FROM bs.snapshots WHERE volume_id = @v AND status <> 'deleted'", conn, tx);
        cmd.Parameters.AddWithValue("v", volumeId);
        return (long)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    /// <summary>
    /// Remove-BlockVolume -Cascade: queues the removal of every snapshot of the volume that is not
    /// already on its way, ahead of the volume's own delete (the agent runs a volume's operations in
    /// order). A snapshot still being made is refused: its create settles first.
    /// </summary>
    public static async Task QueueDeleteAllAsync(NpgsqlConnection conn, NpgsqlTransaction tx, BlockVolume volume, CancellationToken ct)
    {
        List<BlockVolumeSnapshot> live;
        await using (var cmd = new NpgsqlCommand(
            $"SELECT {Columns} FROM {From} WHERE s.volume_id = @v AND s.status <> 'deleted' ORDER BY s.created_at FOR UPDATE OF s", conn, tx))
        {
            cmd.Parameters.AddWithValue("v", volume.Id);
            live = await Rows.ListAsync(cmd, Read, ct).ConfigureAwait(false);
        }

        var creating = live.FirstOrDefault(s => s.Status == SnapshotStatus.Creating);
        if (creating is not null)
        {
            throw new BlockStoreException(ErrorIds.InvalidSnapshotState, ErrorKind.InvalidOperation,
                $"Snapshot '{creating.Name}' of volume '{volume.Name}' is still being made; remove the volume once it is available or error. Nothing was requested.", volume);
        }

        foreach (var snapshot in live.Where(s => SnapshotStatus.CanRequestDelete(s.Status)))
        {
            await QueueDeleteAsync(conn, tx, snapshot, ct).ConfigureAwait(false);
        }
    }

    /// <summary>The snapshot goes 'deleting' and a 'snapshot-delete' operation is queued for its host's agent.</summary>
    public static async Task QueueDeleteAsync(NpgsqlConnection conn, NpgsqlTransaction tx, BlockVolumeSnapshot snapshot, CancellationToken ct)
    {
        await SetStatusAsync(conn, tx, snapshot.Id, snapshot.Status, SnapshotStatus.Deleting, null, ct).ConfigureAwait(false);
        await using (var cmd = new NpgsqlCommand(
            "INSERT INTO bs.operations (volume_id, kind, stage, host, snapshot_id) VALUES (@v, 'snapshot-delete', 'scheduled', @h, @id)", conn, tx))
        {
            cmd.Parameters.AddWithValue("id", snapshot.Id);
            cmd.Parameters.AddWithValue("v", snapshot.VolumeId);
            cmd.Parameters.AddWithValue("h", snapshot.Host);
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        await Events.AddAsync(conn, tx, snapshot.VolumeId, snapshot.Host, null, "requested", $"removal of snapshot '{snapshot.Name}' ({snapshot.Id}) requested", ct).ConfigureAwait(false);
    }

    // Column order of Columns.
    public static BlockVolumeSnapshot Read(NpgsqlDataReader r) => new()
    {
        Id = r.GetGuid(0),
        VolumeId = r.GetGuid(1),
        VolumeName = r.GetString(2),
        Name = r.GetString(3),
        Description = r.StringOrNull(4),
        SizeGiB = r.GetInt32(5),
        Status = r.GetString(6),
        StatusReason = r.StringOrNull(7),
        Host = r.GetString(8),
        BackendType = r.GetString(9),
        CreatedAt = r.GetDateTime(10),
        UpdatedAt = r.GetDateTime(11),
    };

    private static Task<BlockVolumeSnapshot?> ReadOneAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, Guid id, string locking, CancellationToken ct) =>
        Rows.ByIdAsync(conn, tx, SelectOne(locking), id, Read, ct);

    private static string SelectOne(string locking) => $"SELECT {Columns} FROM {From} WHERE s.id = @id{locking}";
}
