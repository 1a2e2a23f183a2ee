using BlockStore.Core;
using Npgsql;

namespace BlockStore.Data;

/// <summary>A user's query filter for snapshots; null fields do not filter.</summary>
public sealed record SnapshotFilter(
    IReadOnlyList<string>? NamePatterns = null,
    IReadOnlyList<Guid>? Ids = null,
    IReadOnlyList<Guid>? VolumeIds = null,
    IReadOnlyList<string>? Statuses = null,
    bool IncludeDeleted = false,
    IReadOnlyList<string>? Projects = null);

/// <summary>
/// Snapshot requests (issue 12): checked and written in one transaction with the volume locked,
/// then run by the volume's own agent (a snapshot lives beside its origin, so there is nothing to
/// place). Lock order as everywhere: the volume's operations, the volume, then the snapshot.
/// </summary>
public sealed class SnapshotRequests(StoreConnection store)
{
    /// <summary>
    /// Asks for a snapshot of <paramref name="volumeId"/>. Refused, with nothing written: a volume
    /// that is not available (in-use only with <paramref name="force"/>, as Cinder), a host whose
    /// LVM cannot snapshot (SnapshotUnsupported, with the agent's reason), a name the volume's
    /// snapshots already use, and for a thick host no room for the COW area (InsufficientCapacity).
    /// </summary>
    public Task<BlockVolumeSnapshot> CreateAsync(Guid volumeId, string name, string? description, bool force, CancellationToken ct = default)
    {
        Validation.SnapshotName(name);
        Validation.Description(description);
        return store.RunAsync(async conn =>
        {
            await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
            var volume = await VolumeTransitions.LockWithOperationsAsync(conn, tx, volumeId, ct).ConfigureAwait(false);
            if (volume.Status == VolumeStatus.InUse && !force)
            {
                throw new BlockStoreException(ErrorIds.VolumeInUse, ErrorKind.InvalidOperation,
                    $"Volume '{volume.Name}' is in-use: a snapshot of an attached volume holds what was written to the disk, not what the " +
                    "initiator still caches. Use -Force to take it anyway, or detach first. Nothing was requested.", volume);
            }

            if (!SnapshotStatus.CanSnapshot(volume.Status, force) || volume.Host is null)
            {
                throw new BlockStoreException(ErrorIds.InvalidVolumeState, ErrorKind.InvalidOperation,
                    $"Volume '{volume.Name}' is {volume.Status}: only an available (or, with -Force, in-use) volume can be snapshotted. Nothing was requested.", volume);
            }

            var (backend, supported, why) = await HostCapabilities.ReadSnapshotSupportAsync(conn, tx, volume.Host, ct).ConfigureAwait(false);
            if (!supported)
            {
                throw new BlockStoreException(ErrorIds.SnapshotUnsupported, ErrorKind.ResourceUnavailable,
                    $"Host {volume.Host} of volume '{volume.Name}' cannot make snapshots: {why ?? "its agent has not said it can (start or upgrade it)"}. Nothing was requested.", volume);
            }

            if (await NameInUseAsync(conn, tx, volumeId, name, ct).ConfigureAwait(false))
            {
                throw new BlockStoreException(ErrorIds.SnapshotNameInUse, ErrorKind.ResourceExists,
                    $"Volume '{volume.Name}' already has a snapshot named '{name}'. Names are unique among a volume's snapshots that are not deleted.", name);
            }

            if (backend == BackendType.Thick)
            {
                // The COW area is as large as the origin: the same room check as an extend, under the host's ledger lock.
                var host = await SchedulerQueue.LockHostAsync(conn, tx, volume.Host, ct).ConfigureAwait(false);
                var noRoom = host is null ? "it reports no capacity" : PlacementPolicy.CapacityRejection(host, volume.SizeGiB);
                if (noRoom is not null)
                {
                    throw new BlockStoreException(ErrorIds.InsufficientCapacity, ErrorKind.ResourceUnavailable,
                        $"Host {volume.Host} has no room for a {volume.SizeGiB} GiB snapshot area of '{volume.Name}': {noRoom}. Nothing was requested.", volume);
                }
            }

            var id = Guid.CreateVersion7();
            await using (var cmd = new NpgsqlCommand(
                "INSERT INTO bs.snapshots (id, volume_id, name, description, size_gib, status, host, backend_type) " +
                "VALUES (@id, @v, @n, @d, @s, 'creating', @h, @b); " +
                "INSERT INTO bs.operations (volume_id, kind, stage, host, snapshot_id) VALUES (@v, 'snapshot-create', 'scheduled', @h, @id)", conn, tx))
            {
                cmd.Parameters.AddWithValue("id", id);
                cmd.Parameters.AddWithValue("v", volumeId);
                cmd.Parameters.AddWithValue("n", name);
                cmd.Parameters.AddWithValue("d", (object?)description ?? DBNull.Value);
                cmd.Parameters.AddWithValue("s", volume.SizeGiB);
                cmd.Parameters.AddWithValue("h", volume.Host);
                cmd.Parameters.AddWithValue("b", backend);
                await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            await Events.AddAsync(conn, tx, volumeId, volume.Host, null, "requested",
                $"snapshot '{name}' ({id}) of {volume.SizeGiB} GiB requested{(volume.Status == VolumeStatus.InUse ? " while in-use (-Force)" : "")}", ct).ConfigureAwait(false);
            await Events.NotifyAsync(conn, tx, Channels.Agent, volume.Host, ct).ConfigureAwait(false);
            var result = await SnapshotTransitions.GetAsync(conn, tx, id, ct).ConfigureAwait(false);
            await tx.CommitAsync(ct).ConfigureAwait(false);
            return result!;
        }, ct);
    }

    /// <summary>
    /// Asks for removal: the snapshot goes 'deleting' and its host's agent removes the LV. A
    /// snapshot already deleting or deleted is returned as it is (asking twice is not an error);
    /// one still being made is refused (InvalidSnapshotState): its create settles first.
    /// </summary>
    public Task<BlockVolumeSnapshot> RequestDeleteAsync(Guid snapshotId, CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
            var snapshot = await SnapshotTransitions.GetAsync(conn, tx, snapshotId, ct).ConfigureAwait(false)
                ?? throw NotFound(snapshotId);
            await VolumeTransitions.LockWithOperationsAsync(conn, tx, snapshot.VolumeId, ct).ConfigureAwait(false);
            snapshot = await SnapshotTransitions.LockAsync(conn, tx, snapshotId, ct).ConfigureAwait(false) ?? throw NotFound(snapshotId);
            if (snapshot.Status is SnapshotStatus.Deleting or SnapshotStatus.Deleted)
            {
                await tx.CommitAsync(ct).ConfigureAwait(false);
                return snapshot;
            }

            if (!SnapshotStatus.CanRequestDelete(snapshot.Status))
            {
                throw new BlockStoreException(ErrorIds.InvalidSnapshotState, ErrorKind.InvalidOperation,
                    $"Snapshot '{snapshot.Name}' is {snapshot.Status} and cannot be removed now; wait until it is available or error. Nothing was requested.", snapshot);
            }

            if (await VolumesInTheMakingAsync(conn, tx, snapshotId, ct).ConfigureAwait(false) > 0)
            {
                throw new BlockStoreException(ErrorIds.InvalidSnapshotState, ErrorKind.InvalidOperation,
                    $"A volume is being made from snapshot '{snapshot.Name}'; remove the snapshot once that volume is available or error. Nothing was requested.", snapshot);
            }

            await SnapshotTransitions.QueueDeleteAsync(conn, tx, snapshot, ct).ConfigureAwait(false);
            await Events.NotifyAsync(conn, tx, Channels.Agent, snapshot.Host, ct).ConfigureAwait(false);
            var result = await SnapshotTransitions.GetAsync(conn, tx, snapshotId, ct).ConfigureAwait(false);
            await tx.CommitAsync(ct).ConfigureAwait(false);
            return result!;
        }, ct);

    /// <summary>
    /// Asks to revert a volume to a snapshot (Restore-BlockVolume), Cinder's rule: only to the
    /// volume's most recent snapshot (not deleted, not failed: SnapshotNotLatest otherwise), only
    /// an available volume (attached: VolumeInUse; busy: InvalidVolumeState), only from an available
    /// snapshot. The volume goes 'reverting' and a 'revert' operation is queued for its host's agent,
    /// which merges the snapshot back and takes it again, so the snapshot stays as the user left it.
    /// </summary>
    public Task<BlockVolume> RequestRevertAsync(Guid snapshotId, CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
            var found = await SnapshotTransitions.GetAsync(conn, tx, snapshotId, ct).ConfigureAwait(false) ?? throw NotFound(snapshotId);
            var volume = await VolumeTransitions.LockWithOperationsAsync(conn, tx, found.VolumeId, ct).ConfigureAwait(false);
            var snapshot = await SnapshotTransitions.LockAsync(conn, tx, snapshotId, ct).ConfigureAwait(false) ?? throw NotFound(snapshotId);
            if (snapshot.Status != SnapshotStatus.Available)
            {
                throw new BlockStoreException(ErrorIds.InvalidSnapshotState, ErrorKind.InvalidOperation,
                    $"Snapshot '{snapshot.Name}' is {snapshot.Status}: a volume can be reverted only to an available snapshot. Nothing was requested.", snapshot);
            }

            if (VolumeStatus.IsAttached(volume.Status))
            {
                throw new BlockStoreException(ErrorIds.VolumeInUse, ErrorKind.InvalidOperation,
                    $"Volume '{volume.Name}' is {volume.Status}: detach it first (Remove-BlockVolumeAttachment); a volume is never reverted under an initiator. Nothing was requested.", volume);
            }

            if (volume.Status != VolumeStatus.Available)
            {
                throw new BlockStoreException(ErrorIds.InvalidVolumeState, ErrorKind.InvalidOperation,
                    $"Volume '{volume.Name}' is {volume.Status} and cannot be reverted now; only an available volume can. Nothing was requested.", volume);
            }

            if (await VolumeTransitions.CopiesInTheMakingAsync(conn, tx, volume.Id, withSnapshots: true, ct).ConfigureAwait(false) > 0)
            {
                throw new BlockStoreException(ErrorIds.InvalidVolumeState, ErrorKind.InvalidOperation,
                    $"A volume is being made from volume '{volume.Name}' or one of its snapshots (on a thick host a block copy that reads it); " +
                    "revert it once that volume is available or error. Nothing was requested.", volume);
            }

            await using (var latest = new NpgsqlCommand(
                "SELECT id, name FROM bs.snapshots WHERE volume_id = @v AND status NOT IN ('deleted', 'error') ORDER BY created_at DESC, id DESC LIMIT 1", conn, tx))
            {
                latest.Parameters.AddWithValue("v", volume.Id);
                await using var r = await latest.ExecuteReaderAsync(ct).ConfigureAwait(false);
                if (await r.ReadAsync(ct).ConfigureAwait(false) && r.GetGuid(0) != snapshotId)
                {
                    throw new BlockStoreException(ErrorIds.SnapshotNotLatest, ErrorKind.InvalidOperation,
                        $"Snapshot '{snapshot.Name}' is not the most recent snapshot of volume '{volume.Name}' ('{r.GetString(1)}' is): a volume is reverted only to its " +
                        "latest snapshot, as in Cinder. Make a volume from the older one instead (New-BlockVolume -SnapshotId). Nothing was requested.", snapshot);
                }
            }

            await using (var cmd = new NpgsqlCommand(
                "INSERT INTO bs.operations (volume_id, kind, stage, host, snapshot_id) VALUES (@v, 'revert', 'scheduled', @h, @s)", conn, tx))
            {
                cmd.Parameters.AddWithValue("v", volume.Id);
                cmd.Parameters.AddWithValue("h", volume.Host!);
                cmd.Parameters.AddWithValue("s", snapshotId);
                await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            await VolumeTransitions.SetStatusAsync(conn, tx, volume.Id, volume.Status, VolumeStatus.Reverting, null, ct).ConfigureAwait(false);
            await Events.AddAsync(conn, tx, volume.Id, volume.Host, null, "requested", $"revert to snapshot '{snapshot.Name}' ({snapshotId}) requested", ct).ConfigureAwait(false);
            await Events.NotifyAsync(conn, tx, Channels.Agent, volume.Host!, ct).ConfigureAwait(false);
            var result = await VolumeTransitions.GetAsync(conn, tx, volume.Id, ct).ConfigureAwait(false);
            await tx.CommitAsync(ct).ConfigureAwait(false);
            return result!;
        }, ct);

    public Task<BlockVolumeSnapshot?> GetAsync(Guid id, CancellationToken ct = default) =>
        store.RunAsync(conn => SnapshotTransitions.GetAsync(conn, null, id, ct), ct);

    public Task<List<BlockVolumeSnapshot>> ListAsync(SnapshotFilter filter, CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand { Connection = conn };
            var where = new WhereClause(cmd);
            if (!filter.IncludeDeleted)
            {
                where.Add("s.status <> 'deleted'");
            }

            if (filter.NamePatterns is { Count: > 0 })
            {
                where.Add("s.name ILIKE ANY(@names)");
                cmd.Parameters.AddWithValue("names", filter.NamePatterns.Select(WildcardTranslator.ToLike).ToArray());
            }

            where.AnyOf("s.id", "ids", filter.Ids);
            where.AnyOf("s.volume_id", "vids", filter.VolumeIds);
            where.AnyOf("s.status", "st", filter.Statuses);
            where.AnyOf("v.project", "projects", filter.Projects);
            cmd.CommandText = $"SELECT {SnapshotTransitions.Columns} FROM {SnapshotTransitions.From}{where} ORDER BY s.created_at, s.id";
            return await Rows.ListAsync(cmd, SnapshotTransitions.Read, ct).ConfigureAwait(false);
        }, ct);

    /// <summary>Volumes still being made from the snapshot (their create reads it, so it must stay until they are done).</summary>
    private static async Task<long> VolumesInTheMakingAsync(NpgsqlConnection conn, NpgsqlTransaction tx, Guid snapshotId, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "SELECT count(*) FROM bs.operations WHERE source_snapshot_id = @s AND stage IN ('pending', 'scheduled', 'running')", conn, tx);
        cmd.Parameters.AddWithValue("s", snapshotId);
        return (long)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    private static async Task<bool> NameInUseAsync(NpgsqlConnection conn, NpgsqlTransaction tx, Guid volumeId, string name, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT EXISTS (SELECT 1 FROM bs.snapshots WHERE volume_id = @v AND name = @n AND status <> 'deleted')", conn, tx);
        cmd.Parameters.AddWithValue("v", volumeId);
        cmd.Parameters.AddWithValue("n", name);
        return (bool)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    private static BlockStoreException NotFound(Guid id) =>
        new(ErrorIds.SnapshotNotFound, ErrorKind.ObjectNotFound, $"No snapshot with id {id}.", id);
}
