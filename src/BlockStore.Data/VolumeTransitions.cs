using BlockStore.Core;
using Npgsql;

namespace BlockStore.Data;

/// <summary>
/// The volume row's state machine in the database: read it, lock it (in the lock order every
/// writer keeps), and move its status. The one home of these steps: the request classes
/// (volumes, snapshots, attachments) and the agent's queues all call here, never each other.
/// </summary>
internal static class VolumeTransitions
{
    /// <summary>
    /// Volumes still being made from this volume (a clone) or, with <paramref name="withSnapshots"/>,
    /// from one of its snapshots: on a thick host their create is a block copy that reads the source
    /// for seconds per GiB, so nothing may change the source's data meanwhile (an initiator's writes,
    /// a revert's merge).
    /// </summary>
    public static async Task<long> CopiesInTheMakingAsync(NpgsqlConnection conn, NpgsqlTransaction tx, Guid volumeId, bool withSnapshots, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "SELECT count(*) FROM bs.operations WHERE stage IN ('pending', 'scheduled', 'running') AND (source_volume_id = @v" +
            (withSnapshots ? " OR source_snapshot_id IN (SELECT id FROM bs.snapshots WHERE volume_id = @v))" : ")"), conn, tx);
        cmd.Parameters.AddWithValue("v", volumeId);
        return (long)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    public const string Columns =
        "v.id, v.name, v.size_gib, v.status, v.host, v.zone, v.description, v.status_reason, v.created_at, v.updated_at, v.multiattach, v.source_snapshot_id, v.source_volume_id, v.project, v.volume_type";

    public static Task<BlockVolume?> GetAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, Guid id, CancellationToken ct) =>
        ReadOneAsync(conn, tx, id, "", ct);

    public static Task<BlockVolume?> LockAsync(NpgsqlConnection conn, NpgsqlTransaction tx, Guid id, CancellationToken ct) =>
        ReadOneAsync(conn, tx, id, " FOR UPDATE", ct);

    /// <summary>The same lock and read as <see cref="LockAsync"/>, as one statement of the caller's batch (its rows: <see cref="Read"/>).</summary>
    public static NpgsqlBatchCommand LockCommand(Guid id)
    {
        var cmd = new NpgsqlBatchCommand(SelectOne(" FOR UPDATE"));
        cmd.Parameters.AddWithValue("id", id);
        return cmd;
    }

    /// <summary>
    /// Locks a volume's unfinished operations, then the volume (VolumeNotFound when there is none),
    /// for a request that changes it. The order matters: the scheduler locks operation rows before
    /// volume rows (claim, then assign), and so does the agent (complete the operation, then set the
    /// status); the other order deadlocks against a scheduler placing this very volume.
    /// </summary>
    public static async Task<BlockVolume> LockWithOperationsAsync(NpgsqlConnection conn, NpgsqlTransaction tx, Guid id, CancellationToken ct)
    {
        await using (var lockOps = new NpgsqlCommand(
            "SELECT id FROM bs.operations WHERE volume_id = @id AND stage IN ('pending', 'scheduled', 'running') ORDER BY id FOR UPDATE", conn, tx))
        {
            lockOps.Parameters.AddWithValue("id", id);
            await lockOps.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        return await LockAsync(conn, tx, id, ct).ConfigureAwait(false)
            ?? throw new BlockStoreException(ErrorIds.VolumeNotFound, ErrorKind.ObjectNotFound, $"No volume with id {id}.", id);
    }

    /// <summary>Moves a volume's status, checked against the state machine, with the reason users see.</summary>
    public static Task SetStatusAsync(NpgsqlConnection conn, NpgsqlTransaction tx, Guid id, string from, string to, string? reason, CancellationToken ct)
    {
        CheckMove(id, from, to);
        return StatusColumns.WriteAsync(conn, tx, "bs.volumes", id, to, reason, ct);
    }

    /// <summary>
    /// <see cref="SetStatusAsync"/> as one statement of the caller's batch: the state machine is
    /// checked here, before anything is sent, exactly as there.
    /// </summary>
    public static NpgsqlBatchCommand SetStatusCommand(Guid id, string from, string to, string? reason)
    {
        CheckMove(id, from, to);
        return StatusColumns.WriteCommand("bs.volumes", id, to, reason);
    }

    private static void CheckMove(Guid id, string from, string to)
    {
        if (from != to && !VolumeStateMachine.CanMove(from, to))
        {
            throw new InvalidOperationException($"Volume {id}: status {from} cannot move to {to}.");
        }
    }

    // Column order of Columns (a RETURNING * or a join may add others after them).
    public static BlockVolume Read(NpgsqlDataReader r) => new()
    {
        Id = r.GetGuid(0),
        Name = r.GetString(1),
        SizeGiB = r.GetInt32(2),
        Status = r.GetString(3),
        Host = r.StringOrNull(4),
        Zone = r.StringOrNull(5),
        Description = r.StringOrNull(6),
        StatusReason = r.StringOrNull(7),
        CreatedAt = r.GetDateTime(8),
        UpdatedAt = r.GetDateTime(9),
        MultiAttach = r.GetBoolean(10),
        SnapshotId = r.GuidOrNull(11),
        SourceVolumeId = r.GuidOrNull(12),
        Project = r.GetString(13),
        VolumeType = r.StringOrNull(14),
    };

    private static Task<BlockVolume?> ReadOneAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, Guid id, string locking, CancellationToken ct) =>
        Rows.ByIdAsync(conn, tx, SelectOne(locking), id, Read, ct);

    private static string SelectOne(string locking) => $"SELECT {Columns} FROM bs.volumes v WHERE v.id = @id{locking}";
}
