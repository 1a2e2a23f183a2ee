using BlockStore.Core;
using Npgsql;

namespace BlockStore.Data;

/// <summary>
/// An operation an agent has claimed, with what it needs to run it. SizeGiB is the volume's size,
/// or for a snapshot-create the snapshot's (its origin's size when it was asked for). WaitedSeconds:
/// from the request (created_at) to this claim, by the database clock (the agent's latency metrics).
/// </summary>
public sealed record ClaimedOperation(long Id, string Kind, Guid VolumeId, int SizeGiB, int Attempts, Guid? AttachmentId = null, Guid? SnapshotId = null,
    Guid? SourceSnapshotId = null, Guid? SourceVolumeId = null, double? WaitedSeconds = null);

/// <summary>What the database says about a volume whose LV the agent found (for reconciling).</summary>
public sealed record VolumeRecord(Guid Id, string Status, string? Host, bool HasLiveOperation);

/// <summary>A snapshot row as the reconcile pass needs it: whether anything of its volume is still queued or running.</summary>
public sealed record SnapshotRecord(Guid Id, Guid VolumeId, string Status, string Host, bool VolumeHasLiveOperation);

/// <summary>
/// The agent's side of the queue: claims only its own host's operations, holds them under a
/// lease it renews, and writes the final status. Operations of one volume run in order: a delete
/// waits until the create before it has finished.
/// </summary>
public sealed class AgentQueue(StoreConnection store, string host)
{
    public string Host { get; } = host;

    /// <summary>
    /// At agent start: operations this host was running when its previous process died go back to
    /// the queue at once (no need to wait for the lease), because only this host's agent runs them.
    /// </summary>
    public Task<int> RecoverAsync(string owner, CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
            await using var cmd = new NpgsqlCommand(
                "WITH r AS (UPDATE bs.operations SET stage = 'scheduled', lease_owner = NULL, lease_expires_at = NULL, updated_at = now() " +
                "  WHERE host = @h AND stage = 'running' AND lease_owner IS DISTINCT FROM @o RETURNING volume_id, kind) " +
                "INSERT INTO bs.events (volume_id, host, service, kind, message) " +
                "SELECT volume_id, @h, 'volume', 'recovered', kind || ' operation taken up again after the agent restarted' FROM r", conn, tx);
            cmd.Parameters.AddWithValue("h", Host);
            cmd.Parameters.AddWithValue("o", owner);
            var n = await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            await tx.CommitAsync(ct).ConfigureAwait(false);
            return n;
        }, ct);

    /// <summary>
    /// Claims up to <paramref name="max"/> runnable operations of this host. Nothing is claimed
    /// while the host is frozen: requests wait, they are not failed.
    /// </summary>
    public Task<List<ClaimedOperation>> ClaimAsync(string owner, TimeSpan lease, int max, CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand(
                "WITH next AS ( " +
                "  SELECT o.id FROM bs.operations o " +
                "  WHERE o.host = @h AND ((o.stage = 'scheduled' AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= now())) " +
                "    OR (o.stage = 'running' AND o.lease_expires_at < now())) " +
                "    AND NOT EXISTS (SELECT 1 FROM bs.services s WHERE s.host = @h AND s.service = 'volume' AND s.frozen) " +
                "    AND NOT EXISTS (SELECT 1 FROM bs.operations p WHERE p.volume_id = o.volume_id AND p.id < o.id " +
                "                    AND p.stage IN ('pending', 'scheduled', 'running')) " +
                "  ORDER BY o.id LIMIT @n FOR UPDATE OF o SKIP LOCKED) " +
                "UPDATE bs.operations o SET stage = 'running', lease_owner = @o, lease_expires_at = now() + @lease, " +
                "  attempts = attempts + 1, updated_at = now() " +
                "FROM next, bs.volumes v WHERE o.id = next.id AND v.id = o.volume_id " +
                "RETURNING o.id, o.kind, o.volume_id, " +
                "  CASE WHEN o.kind = 'snapshot-create' THEN (SELECT s.size_gib FROM bs.snapshots s WHERE s.id = o.snapshot_id) ELSE v.size_gib END, " +
                "  o.attempts, o.attachment_id, o.snapshot_id, o.source_snapshot_id, o.source_volume_id, " +
                "  extract(epoch FROM clock_timestamp() - o.created_at)::float8", conn);
            cmd.Parameters.AddWithValue("h", Host);
            cmd.Parameters.AddWithValue("o", owner);
            cmd.Parameters.AddWithValue("n", max);
            cmd.Parameters.AddWithValue("lease", lease);
            var list = new List<ClaimedOperation>();
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                list.Add(new ClaimedOperation(r.GetInt64(0), r.GetString(1), r.GetGuid(2), r.GetInt32(3), r.GetInt32(4), r.GuidOrNull(5), r.GuidOrNull(6), r.GuidOrNull(7), r.GuidOrNull(8),
                    r.IsDBNull(9) ? null : r.GetDouble(9)));
            }

            list.Sort((a, b) => a.Id.CompareTo(b.Id));
            return list;
        }, ct);

    /// <summary>Extends the lease of operations this worker still runs.</summary>
    public Task<int> RenewLeaseAsync(string owner, IReadOnlyCollection<long> ids, TimeSpan lease, CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand(
                "UPDATE bs.operations SET lease_expires_at = now() + @lease WHERE id = ANY(@ids) AND lease_owner = @o AND stage = 'running'", conn);
            cmd.Parameters.AddWithValue("ids", ids.ToArray());
            cmd.Parameters.AddWithValue("o", owner);
            cmd.Parameters.AddWithValue("lease", lease);
            return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, ct);

    /// <summary>
    /// Writes the outcome of an operation and the volume's resulting status, if this worker still
    /// holds the lease (a worker that lost its lease must not overwrite the newer worker's result).
    /// The note (what the host did: "lvcreate ...", "adopted existing LV ...") goes into the event.
    /// Three round trips (issue 11; six before): the operation finished and its volume or snapshot
    /// locked in one batch, the status, event and NOTIFY in another, then the commit. The state
    /// checks between them are in C#, as before; an extend adds its own reads and writes.
    /// </summary>
    public Task<bool> CompleteAsync(string owner, ClaimedOperation op, string? error, string? note = null, CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
            var snapshotId = op.Kind != OperationKind.Revert ? op.SnapshotId : null;
            var (finished, volume, snapshot) = await FinishAndLockAsync(conn, tx, owner, op, error, snapshotId, ct).ConfigureAwait(false);
            if (!finished)
            {
                // The lease is lost: nothing of this transaction stays (the lock taken with it is released).
                await tx.RollbackAsync(ct).ConfigureAwait(false);
                return false;
            }

            await using var writes = new NpgsqlBatch(conn, tx);
            if (snapshotId is { } sid)
            {
                if (snapshot is not null)
                {
                    SnapshotOutcome(writes, op, sid, snapshot, error, note);
                }
            }
            else if (volume is not null)
            {
                await VolumeOutcomeAsync(conn, tx, writes, op, volume, error, note, ct).ConfigureAwait(false);
            }

            if (writes.BatchCommands.Count > 0)
            {
                await writes.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            await tx.CommitAsync(ct).ConfigureAwait(false);
            return true;
        }, ct);

    /// <summary>
    /// One round trip: the operation finished if <paramref name="owner"/> still holds its lease, and
    /// its volume (or, for a snapshot operation, its snapshot) locked and read, in the lock order
    /// every writer keeps (operation, then volume or snapshot). Finished is false when the lease is
    /// lost; the caller then rolls back.
    /// </summary>
    private static async Task<(bool Finished, BlockVolume? Volume, BlockVolumeSnapshot? Snapshot)> FinishAndLockAsync(
        NpgsqlConnection conn, NpgsqlTransaction tx, string owner, ClaimedOperation op, string? error, Guid? snapshotId, CancellationToken ct)
    {
        await using var batch = new NpgsqlBatch(conn, tx);
        batch.BatchCommands.Add(OperationTransitions.FinishCommand(op.Id, owner, error));
        batch.BatchCommands.Add(snapshotId is { } sid ? SnapshotTransitions.LockCommand(sid) : VolumeTransitions.LockCommand(op.VolumeId));
        await using var r = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
        // The finish returns its operation's id: a row means this worker held the lease.
        var finished = await r.ReadAsync(ct).ConfigureAwait(false);
        await r.NextResultAsync(ct).ConfigureAwait(false);
        BlockVolume? volume = null;
        BlockVolumeSnapshot? snapshot = null;
        if (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            if (snapshotId is null)
            {
                volume = VolumeTransitions.Read(r);
            }
            else
            {
                snapshot = SnapshotTransitions.Read(r);
            }
        }

        return (finished, volume, snapshot);
    }

    /// <summary>
    /// A volume operation's outcome, added to <paramref name="writes"/>: the volume's status (unless
    /// a later request superseded this operation), the event and the NOTIFY that wakes -Wait. An
    /// extend also gives back the old size when it failed and ends where the attachments say.
    /// </summary>
    private async Task VolumeOutcomeAsync(NpgsqlConnection conn, NpgsqlTransaction tx, NpgsqlBatch writes, ClaimedOperation op, BlockVolume volume,
        string? error, string? note, CancellationToken ct)
    {
        var (to, kind, message) = (op.Kind, error) switch
        {
            (OperationKind.Extend, null) => (VolumeStatus.Available, "extended", note is null ? "extended" : $"extended: {note}"),
            (OperationKind.Extend, _) => (VolumeStatus.Available, "error", "extend failed: " + error),
            (OperationKind.Revert, null) => (VolumeStatus.Available, "reverted", note is null ? "reverted" : $"reverted: {note}"),
            (OperationKind.Revert, _) => (VolumeStatus.Available, "error", "revert failed: " + error),
            (OperationKind.Create, null) => (VolumeStatus.Available, "available", note is null ? "created" : $"created: {note}"),
            (OperationKind.Create, _) => (VolumeStatus.Error, "error", "create failed: " + error),
            (OperationKind.Delete, null) => (VolumeStatus.Deleted, "deleted", note is null ? "deleted" : $"deleted: {note}"),
            _ => (VolumeStatus.ErrorDeleting, "error", "delete failed: " + error),
        };

        // A create that finishes after the user asked for deletion leaves the volume
        // 'deleting': the queued delete operation runs next and settles it.
        var superseded = (op.Kind == OperationKind.Create && volume.Status != VolumeStatus.Creating)
            || (op.Kind == OperationKind.Extend && volume.Status != VolumeStatus.Extending)
            || (op.Kind == OperationKind.Revert && volume.Status != VolumeStatus.Reverting);
        if (op.Kind == OperationKind.Extend && error is not null && !superseded)
        {
            // The LV did not grow: the volume holds its old size again (the ledger follows by trigger).
            await using var restore = new NpgsqlCommand(
                "UPDATE bs.volumes v SET size_gib = o.from_size_gib FROM bs.operations o WHERE o.id = @op AND v.id = o.volume_id AND o.from_size_gib IS NOT NULL", conn, tx);
            restore.Parameters.AddWithValue("op", op.Id);
            await restore.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        if (op.Kind == OperationKind.Extend && !superseded)
        {
            // An extend of an exported volume (or one an attach/detach was asked for meanwhile)
            // ends where its attachments say: in-use, attaching, detaching; else available.
            to = VolumeStateMachine.FromAttachments(await AttachmentStatusesAsync(conn, tx, op.VolumeId, ct).ConfigureAwait(false));
        }

        if (!superseded)
        {
            writes.BatchCommands.Add(VolumeTransitions.SetStatusCommand(op.VolumeId, volume.Status, to, error));
        }

        writes.BatchCommands.Add(Events.AddCommand(op.VolumeId, Host, "volume", kind, message));
        writes.BatchCommands.Add(Events.NotifyCommand(Channels.VolumeStatus, op.VolumeId.ToString()));
    }

    private static async Task<List<string>> AttachmentStatusesAsync(NpgsqlConnection conn, NpgsqlTransaction tx, Guid volumeId, CancellationToken ct)
    {
        var statuses = new List<string>();
        await using var cmd = new NpgsqlCommand("SELECT status FROM bs.attachments WHERE volume_id = @v", conn, tx);
        cmd.Parameters.AddWithValue("v", volumeId);
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            statuses.Add(r.GetString(0));
        }

        return statuses;
    }

    /// <summary>
    /// A snapshot operation's outcome, added to <paramref name="writes"/>: the snapshot's status (the
    /// volume's is not touched) and an event on the volume, so Get-BlockVolumeEvent shows its
    /// snapshots' history too.
    /// </summary>
    private void SnapshotOutcome(NpgsqlBatch writes, ClaimedOperation op, Guid snapshotId, BlockVolumeSnapshot snapshot, string? error, string? note)
    {
        var (expected, to, kind, message) = (op.Kind, error) switch
        {
            (OperationKind.SnapshotCreate, null) => (SnapshotStatus.Creating, SnapshotStatus.Available, "snapshot-available", $"snapshot '{snapshot.Name}' created: {note}"),
            (OperationKind.SnapshotCreate, _) => (SnapshotStatus.Creating, SnapshotStatus.Error, "error", $"snapshot '{snapshot.Name}' failed: {error}"),
            (_, null) => (SnapshotStatus.Deleting, SnapshotStatus.Deleted, "snapshot-deleted", $"snapshot '{snapshot.Name}' deleted: {note}"),
            _ => (SnapshotStatus.Deleting, SnapshotStatus.ErrorDeleting, "error", $"removal of snapshot '{snapshot.Name}' failed: {error}"),
        };

        // A status someone else already moved (never expected: snapshot operations are not superseded) is left alone.
        if (snapshot.Status == expected)
        {
            writes.BatchCommands.Add(SnapshotTransitions.SetStatusCommand(snapshotId, snapshot.Status, to, error));
        }

        writes.BatchCommands.Add(Events.AddCommand(op.VolumeId, Host, "volume", kind, message));
        // Wakes -Wait of New-/Remove-BlockVolumeSnapshot (they listen on their volumes' ids) instead of
        // leaving them to their next poll: the benchmark measured that poll as most of the overhead.
        writes.BatchCommands.Add(Events.NotifyCommand(Channels.VolumeStatus, op.VolumeId.ToString()));
    }

    /// <summary>
    /// Records whether this host's LVM can make snapshots (and why not) in its service row; snapshot
    /// requests read it and are refused at once with SnapshotUnsupported instead of failing later.
    /// </summary>
    public Task ReportSnapshotCapabilityAsync(bool supported, string? reason, CancellationToken ct = default) =>
        HostCapabilities.ReportAsync(store, Host, "snapshots", supported, reason, ct);

    /// <summary>
    /// Records whether this host can block-copy one LV into another through device nodes (and why
    /// not): a thick volume from a snapshot and a thick clone need it, and their requests read it.
    /// </summary>
    public Task ReportBlockCopyCapabilityAsync(bool supported, string? reason, CancellationToken ct = default) =>
        HostCapabilities.ReportAsync(store, Host, "block_copy", supported, reason, ct);

    /// <summary>
    /// Records the capabilities the host's configuration declares (volume_backend_name, ...), for
    /// volume types' extra specs. Keys the agent measures itself are not overwritten.
    /// </summary>
    public Task ReportDeclaredCapabilitiesAsync(IReadOnlyDictionary<string, string> declared, CancellationToken ct = default) =>
        HostCapabilities.ReportDeclaredAsync(store, Host, declared, ct);

    /// <summary>
    /// Gives a failed attempt back to the queue (issue 17): the operation is 'scheduled' again with
    /// its error and the time of its next attempt, unclaimed, and the attempt is an event the user
    /// sees (Get-BlockVolumeEvent). False when this worker no longer holds the lease.
    /// </summary>
    public Task<bool> RetryLaterAsync(string owner, ClaimedOperation op, TimeSpan delay, string message, CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
            await using (var cmd = new NpgsqlCommand(
                "UPDATE bs.operations SET stage = 'scheduled', lease_owner = NULL, lease_expires_at = NULL, error = @e, " +
                "  next_attempt_at = now() + @d, updated_at = now() WHERE id = @id AND lease_owner = @o AND stage = 'running'", conn, tx))
            {
                cmd.Parameters.AddWithValue("id", op.Id);
                cmd.Parameters.AddWithValue("o", owner);
                cmd.Parameters.AddWithValue("e", message);
                cmd.Parameters.AddWithValue("d", delay);
                if (await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 0)
                {
                    await tx.RollbackAsync(ct).ConfigureAwait(false);
                    return false;
                }
            }

            await Events.AddAsync(conn, tx, op.VolumeId, Host, "volume", "retry", $"{op.Kind}: {message}", ct).ConfigureAwait(false);
            await tx.CommitAsync(ct).ConfigureAwait(false);
            return true;
        }, ct);

    /// <summary>Records a retryable problem (the operation stays claimed and will be retried).</summary>
    public Task RecordEventAsync(Guid volumeId, string kind, string message, CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            await Events.AddAsync(conn, null, volumeId, Host, "volume", kind, message, ct).ConfigureAwait(false);
            return 0;
        }, ct);

    /// <summary>The rows of the given volume ids (ids without a row are simply absent from the result).</summary>
    public Task<List<VolumeRecord>> GetVolumeRecordsAsync(IReadOnlyCollection<Guid> ids, CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand(
                "SELECT v.id, v.status, v.host, EXISTS (SELECT 1 FROM bs.operations o WHERE o.volume_id = v.id " +
                "  AND o.stage IN ('pending', 'scheduled', 'running')) FROM bs.volumes v WHERE v.id = ANY(@ids)", conn);
            cmd.Parameters.AddWithValue("ids", ids.ToArray());
            var list = new List<VolumeRecord>();
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                list.Add(new VolumeRecord(r.GetGuid(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2), r.GetBoolean(3)));
            }

            return list;
        }, ct);

    /// <summary>The rows of the given snapshot ids (ids without a row are absent from the result).</summary>
    public Task<List<SnapshotRecord>> GetSnapshotRecordsAsync(IReadOnlyCollection<Guid> ids, CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand(
                "SELECT s.id, s.volume_id, s.status, s.host, EXISTS (SELECT 1 FROM bs.operations o WHERE o.volume_id = s.volume_id " +
                "  AND o.stage IN ('pending', 'scheduled', 'running')) FROM bs.snapshots s WHERE s.id = ANY(@ids)", conn);
            cmd.Parameters.AddWithValue("ids", ids.ToArray());
            var list = new List<SnapshotRecord>();
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                list.Add(new SnapshotRecord(r.GetGuid(0), r.GetGuid(1), r.GetString(2), r.GetString(3), r.GetBoolean(4)));
            }

            return list;
        }, ct);

    /// <summary>Available volumes of this host (each should have its LV).</summary>
    public Task<List<Guid>> AvailableVolumeIdsAsync(CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand(
                "SELECT id FROM bs.volumes WHERE host = @h AND status = 'available'", conn);
            cmd.Parameters.AddWithValue("h", Host);
            var list = new List<Guid>();
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                list.Add(r.GetGuid(0));
            }

            return list;
        }, ct);
}
