using System.Runtime.CompilerServices;
using BlockStore.Core;
using Npgsql;

namespace BlockStore.Data;

/// <summary>A user's query filter for volumes; null fields do not filter.</summary>
public sealed record VolumeFilter(
    IReadOnlyList<string>? NamePatterns = null,
    IReadOnlyList<Guid>? Ids = null,
    IReadOnlyList<string>? Statuses = null,
    IReadOnlyList<string>? Hosts = null,
    bool IncludeDeleted = false,
    // Paging (Get-BlockVolume -Skip/-First), done by the database: OFFSET and LIMIT in creation order.
    long Skip = 0,
    long? First = null,
    IReadOnlyList<string>? Projects = null,
    IReadOnlyList<string>? VolumeTypes = null);

/// <summary>
/// What the cmdlets ask of the database: validate, write a request (volume row + operation row +
/// event) in one transaction, notify with ids only, and read state back.
/// </summary>
public sealed class VolumeRequests(StoreConnection store)
{
    public Task<BlockVolume> CreateAsync(string name, int sizeGiB, string? zone, string? description, CancellationToken ct = default) =>
        CreateAsync(name, sizeGiB, zone, description, multiAttach: false, ct);

    /// <summary>Requests a volume; <paramref name="multiAttach"/> lets several initiators attach it at once.</summary>
    public Task<BlockVolume> CreateAsync(string name, int sizeGiB, string? zone, string? description, bool multiAttach, CancellationToken ct = default) =>
        CreateAsync(name, sizeGiB, zone, description, multiAttach, project: null, volumeType: null, ct);

    /// <summary>
    /// Requests a volume in <paramref name="project"/> (null: the default project) of
    /// <paramref name="volumeType"/> (null: the default type). The database checks the project's
    /// quotas in the same statement (QuotaExceeded, nothing written).
    /// </summary>
    public Task<BlockVolume> CreateAsync(string name, int sizeGiB, string? zone, string? description, bool multiAttach,
        string? project, string? volumeType, CancellationToken ct = default)
    {
        Validate(name, sizeGiB, zone, description, project, volumeType);
        return store.RunAsync(async conn => (await InsertAsync(conn, name, sizeGiB, zone, description, multiAttach, project, volumeType, listen: false, ct)
            .ConfigureAwait(false)).Volume, ct);
    }

    /// <summary>
    /// As <see cref="CreateAsync(string, int, string?, string?, bool, string?, string?, CancellationToken)"/>, and
    /// the same round trip also LISTENs for volume status changes on its connection (New-BlockVolume -Wait):
    /// the LISTEN commits with the request, so no change of this volume, or of any requested later,
    /// can come before it, and waiting costs no extra round trip (before, the waiter opened a second
    /// connection to LISTEN after the request, then had to read the volumes once at once in case they
    /// changed in between). The caller owns the listener (and its connection).
    /// </summary>
    public async Task<(BlockVolume Volume, VolumeStatusListener Listener)> CreateListeningAsync(string name, int sizeGiB, string? zone,
        string? description, bool multiAttach, string? project, string? volumeType, CancellationToken ct = default)
    {
        Validate(name, sizeGiB, zone, description, project, volumeType);
        var ((volume, listener), _) = await store.RunKeepingConnectionAsync(
            conn => InsertAsync(conn, name, sizeGiB, zone, description, multiAttach, project, volumeType, listen: true, ct), ct).ConfigureAwait(false);
        return (volume, listener!);
    }

    private static void Validate(string name, int sizeGiB, string? zone, string? description, string? project, string? volumeType)
    {
        Validation.VolumeName(name);
        if (project is not null)
        {
            TenancyValidation.ProjectName(project);
        }

        if (volumeType is not null)
        {
            TenancyValidation.VolumeTypeName(volumeType);
        }

        Validation.VolumeSize(sizeGiB);
        if (zone is not null)
        {
            Validation.AvailabilityZone(zone);
        }

        Validation.Description(description);
    }

    private static async Task<(BlockVolume Volume, VolumeStatusListener? Listener)> InsertAsync(NpgsqlConnection conn, string name, int sizeGiB,
        string? zone, string? description, bool multiAttach, string? project, string? volumeType, bool listen, CancellationToken ct)
    {
        // One round trip, one implicit transaction (a batch has one Sync): the scheduler check, the
        // volume, its create operation, the 'requested' event and the NOTIFY (delivered at commit)
        // either all happen or none does. Without an available scheduler nothing is inserted (no
        // row comes back). Statements, not one statement with CTEs: each later statement sees the
        // volume, as a tenant's row-level security checks on operations and events need to.
        var id = Guid.CreateVersion7();
        await using var batch = new NpgsqlBatch(conn);
        var insert = new NpgsqlBatchCommand(
            "INSERT INTO bs.volumes (id, name, description, size_gib, status, zone, multiattach, project, volume_type) " +
            // No zone asked for: the operator's default zone, if one is set (empty means any).
            "SELECT @id, @n, @d, @s, 'creating', coalesce(@z, nullif((SELECT value FROM bs.settings WHERE key = 'default_availability_zone'), '')), @m, @p, @t " +
            // A zone asked for must be one a volume host serves (InvalidAvailabilityZone); the default zone is the operator's.
            "WHERE bs.require_served_zone(@z) AND (" + ServiceRegistry.SchedulerAvailableSql + ") " +
            $"RETURNING {VolumeTransitions.Columns.Replace("v.", "", StringComparison.Ordinal)}");
        insert.Parameters.AddWithValue("id", id);
        insert.Parameters.AddWithValue("m", multiAttach);
        insert.Parameters.AddWithValue("p", NpgsqlTypes.NpgsqlDbType.Text, (object?)project ?? DBNull.Value);
        insert.Parameters.AddWithValue("t", NpgsqlTypes.NpgsqlDbType.Text, (object?)volumeType ?? DBNull.Value);
        insert.Parameters.AddWithValue("n", name);
        insert.Parameters.AddWithValue("d", (object?)description ?? DBNull.Value);
        insert.Parameters.AddWithValue("s", sizeGiB);
        insert.Parameters.AddWithValue("z", NpgsqlTypes.NpgsqlDbType.Text, (object?)zone ?? DBNull.Value);
        var rest = new NpgsqlBatchCommand(
            "WITH o AS (INSERT INTO bs.operations (volume_id, kind, stage) SELECT v.id, 'create', 'pending' FROM bs.volumes v WHERE v.id = @id RETURNING id, volume_id), " +
            "e AS (INSERT INTO bs.events (volume_id, host, service, kind, message) SELECT o.volume_id, NULL, NULL, 'requested', @msg FROM o) " +
            "SELECT pg_notify(@channel, o.id::text) FROM o");
        rest.Parameters.AddWithValue("id", id);
        rest.Parameters.AddWithValue("msg", $"create of {sizeGiB} GiB requested");
        rest.Parameters.AddWithValue("channel", Channels.Schedule);
        batch.BatchCommands.Add(insert);
        batch.BatchCommands.Add(rest);
        // LISTEN takes effect when this transaction commits, with the volume: last, so the
        // volume's row is still the batch's first result. The listener takes notifications from
        // now on (the server may send one before the batch's end).
        var listener = listen ? VolumeStatusListener.On(conn) : null;
        if (listen)
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand(VolumeStatusListener.ListenSql));
        }

        try
        {
            await using var reader = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var created = await reader.ReadAsync(ct).ConfigureAwait(false) ? VolumeTransitions.Read(reader) : null;
            // Read to the end: a failure of a later statement (and the rollback of all) surfaces here.
            while (await reader.NextResultAsync(ct).ConfigureAwait(false))
            {
            }

            return created is not null ? (created, listener)
                : throw new BlockStoreException(ErrorIds.SchedulerUnavailable, ErrorKind.ResourceUnavailable,
                    "No enabled, running scheduler service: the volume was not requested. " +
                    "Check Get-BlockVolumeService -Service scheduler, enable it with Enable-BlockVolumeService, or start a scheduler host.");
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            throw new BlockStoreException(ErrorIds.VolumeNameInUse, ErrorKind.ResourceExists,
                $"A volume named '{name}' already exists in its project. Names are unique within a project among volumes that are not deleted.", name);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ForeignKeyViolation && e.ConstraintName == "volumes_volume_type_fkey")
        {
            throw VolumeTypeRequests.NotFound(volumeType);
        }
    }

    /// <summary>
    /// Requests a volume with a snapshot's data (New-BlockVolume -SnapshotId). It is made on the
    /// snapshot's host by that host's agent, so there is nothing to place: the volume row holds its
    /// host (and its space in the ledger) at once and a 'create' operation from the snapshot is
    /// queued there. Checked in one transaction with the origin volume and the snapshot locked (the
    /// lock order of every snapshot request): the snapshot must be available, the size at least
    /// the snapshot's (larger: extended after the copy), the host able to do it (a thin snapshot of
    /// the snapshot; a thick snapshot is block-copied into a new LV, which needs a host with
    /// device-mapper: refused with the host's reason otherwise), and
    /// room on the host under the placement rules. Nothing is written when a check fails.
    /// </summary>
    public Task<BlockVolume> CreateFromSnapshotAsync(string name, Guid snapshotId, int? sizeGiB, string? description, bool multiAttach, CancellationToken ct = default) =>
        RequestMadeFromAsync(name, sizeGiB, description, async (conn, tx) =>
        {
            var found = await SnapshotTransitions.GetAsync(conn, tx, snapshotId, ct).ConfigureAwait(false)
                ?? throw new BlockStoreException(ErrorIds.SnapshotNotFound, ErrorKind.ObjectNotFound, $"No snapshot with id {snapshotId}.", snapshotId);
            await VolumeTransitions.LockWithOperationsAsync(conn, tx, found.VolumeId, ct).ConfigureAwait(false);
            var snapshot = (await SnapshotTransitions.LockAsync(conn, tx, snapshotId, ct).ConfigureAwait(false))!;
            if (snapshot.Status != SnapshotStatus.Available)
            {
                throw new BlockStoreException(ErrorIds.InvalidSnapshotState, ErrorKind.InvalidOperation,
                    $"Snapshot '{snapshot.Name}' is {snapshot.Status}: a volume can be made only from an available snapshot. Nothing was requested.", snapshot);
            }

            var size = sizeGiB ?? snapshot.SizeGiB;
            if (size < snapshot.SizeGiB)
            {
                throw new BlockStoreException(ErrorIds.InvalidVolumeSize, ErrorKind.InvalidArgument,
                    $"Snapshot '{snapshot.Name}' is {snapshot.SizeGiB} GiB: a volume made from it must be at least that large ({size} GiB is not). Nothing was requested.", size);
            }

            if (snapshot.BackendType != BackendType.Thin)
            {
                // A thick (COW) snapshot's data is copied block by block into a new LV, through the
                // LVs' device nodes: only a host with device-mapper (its agent says block_copy) can.
                var (canCopy, why) = await HostCapabilities.ReadBlockCopySupportAsync(conn, tx, snapshot.Host, ct).ConfigureAwait(false);
                if (!canCopy)
                {
                    throw new BlockStoreException(ErrorIds.SnapshotUnsupported, ErrorKind.ResourceUnavailable,
                        $"Snapshot '{snapshot.Name}' is a thick (COW) snapshot on host {snapshot.Host}, which cannot make a volume from it: " +
                        $"{why ?? "its agent has not said it can block-copy"}; a volume from a thick snapshot needs a block copy into a new LV through device nodes " +
                        "(thin hosts make it as a thin snapshot of the snapshot). Nothing was requested.", snapshot);
                }
            }

            return await InsertMadeFromAsync(conn, tx, name, size, description, multiAttach, snapshot.Host, snapshotId, null,
                $"create of {size} GiB from snapshot '{snapshot.Name}' ({snapshotId}) of volume '{snapshot.VolumeName}' requested", ct).ConfigureAwait(false);
        }, ct);

    /// <summary>
    /// Requests a clone of a volume (New-BlockVolume -SourceVolumeId), made on the source's host by
    /// its agent, as a volume from a snapshot is: the source must be available (its data at rest),
    /// the size at least the source's, the host able to make it (thin: a thin snapshot of the source;
    /// thick: a new LV and a block copy, which needs device-mapper: CloneUnsupported with the
    /// host's reason otherwise), with room
    /// under the placement rules. The source cannot be removed while the clone is being made.
    /// </summary>
    public Task<BlockVolume> CreateCloneAsync(string name, Guid sourceVolumeId, int? sizeGiB, string? description, bool multiAttach, CancellationToken ct = default) =>
        RequestMadeFromAsync(name, sizeGiB, description, async (conn, tx) =>
        {
            var source = await VolumeTransitions.LockWithOperationsAsync(conn, tx, sourceVolumeId, ct).ConfigureAwait(false);
            if (source.Status != VolumeStatus.Available || source.Host is null)
            {
                throw new BlockStoreException(ErrorIds.InvalidVolumeState, ErrorKind.InvalidOperation,
                    $"Volume '{source.Name}' is {source.Status}: only an available volume can be cloned. Nothing was requested.", source);
            }

            var size = sizeGiB ?? source.SizeGiB;
            if (size < source.SizeGiB)
            {
                throw new BlockStoreException(ErrorIds.InvalidVolumeSize, ErrorKind.InvalidArgument,
                    $"Volume '{source.Name}' is {source.SizeGiB} GiB: a clone must be at least that large ({size} GiB is not). Nothing was requested.", size);
            }

            var (backend, canSnapshot, why) = await HostCapabilities.ReadSnapshotSupportAsync(conn, tx, source.Host, ct).ConfigureAwait(false);
            if (backend == BackendType.Thin && !canSnapshot)
            {
                throw new BlockStoreException(ErrorIds.CloneUnsupported, ErrorKind.ResourceUnavailable,
                    $"Host {source.Host} of volume '{source.Name}' cannot clone it: {why ?? "its agent has not said it can snapshot"}. Nothing was requested.", source);
            }

            if (backend != BackendType.Thin)
            {
                // A thick clone is a new LV and a block copy through the LVs' device nodes.
                var (canCopy, whyNot) = await HostCapabilities.ReadBlockCopySupportAsync(conn, tx, source.Host, ct).ConfigureAwait(false);
                if (!canCopy)
                {
                    throw new BlockStoreException(ErrorIds.CloneUnsupported, ErrorKind.ResourceUnavailable,
                        $"Host {source.Host} of volume '{source.Name}' cannot clone it: it is a thick host, where a clone needs a block copy into a new LV " +
                        $"through device nodes, and {whyNot ?? "its agent has not said it can block-copy"} (thin hosts clone with a thin snapshot). Nothing was requested.", source);
                }
            }

            return await InsertMadeFromAsync(conn, tx, name, size, description, multiAttach, source.Host, null, sourceVolumeId,
                $"clone of {size} GiB of volume '{source.Name}' ({sourceVolumeId}) requested", ct).ConfigureAwait(false);
        }, ct);

    /// <summary>
    /// What a volume made from a snapshot and a clone share: the checks of the name, the size (when
    /// given) and the description before anything is read, then <paramref name="request"/> in one transaction.
    /// </summary>
    private Task<BlockVolume> RequestMadeFromAsync(string name, int? sizeGiB, string? description,
        Func<NpgsqlConnection, NpgsqlTransaction, Task<BlockVolume>> request, CancellationToken ct)
    {
        Validation.VolumeName(name);
        if (sizeGiB is { } requested)
        {
            Validation.VolumeSize(requested);
        }

        Validation.Description(description);
        return store.RunAsync(async conn =>
        {
            await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
            return await request(conn, tx).ConfigureAwait(false);
        }, ct);
    }

    /// <summary>
    /// The rest of a volume made from a snapshot or another volume: room on the host under the
    /// placement rules (its ledger row locked), the volume (holding its host, so the ledger counts
    /// it at once), its 'create' operation from the source for that host's agent, the event, the wake-up.
    /// </summary>
    private static async Task<BlockVolume> InsertMadeFromAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string name, int size, string? description,
        bool multiAttach, string hostName, Guid? sourceSnapshotId, Guid? sourceVolumeId, string message, CancellationToken ct)
    {
        var host = await SchedulerQueue.LockHostAsync(conn, tx, hostName, ct).ConfigureAwait(false);
        var noRoom = host is null ? "it reports no capacity" : PlacementPolicy.CapacityRejection(host, size);
        if (noRoom is not null)
        {
            throw new BlockStoreException(ErrorIds.InsufficientCapacity, ErrorKind.ResourceUnavailable,
                $"Host {hostName} has no room for a {size} GiB volume: {noRoom}. Nothing was requested.", hostName);
        }

        var id = Guid.CreateVersion7();
        try
        {
            await using var cmd = new NpgsqlCommand(
                "INSERT INTO bs.volumes (id, name, description, size_gib, status, host, zone, multiattach, source_snapshot_id, source_volume_id, project, volume_type) " +
                "SELECT @id, @n, @d, @s, 'creating', @h, s.zone, @m, @snap, @vol, src.project, src.volume_type " +
                // A volume made from a snapshot or a clone belongs to its source's project and type.
                "FROM bs.services s, bs.volumes src WHERE s.host = @h AND s.service = 'volume' " +
                "  AND src.id = coalesce(@vol, (SELECT sn.volume_id FROM bs.snapshots sn WHERE sn.id = @snap)); " +
                "INSERT INTO bs.operations (volume_id, kind, stage, host, source_snapshot_id, source_volume_id) VALUES (@id, 'create', 'scheduled', @h, @snap, @vol)", conn, tx);
            cmd.Parameters.AddWithValue("id", id);
            cmd.Parameters.AddWithValue("n", name);
            cmd.Parameters.AddWithValue("d", (object?)description ?? DBNull.Value);
            cmd.Parameters.AddWithValue("s", size);
            cmd.Parameters.AddWithValue("h", hostName);
            cmd.Parameters.AddWithValue("m", multiAttach);
            cmd.Parameters.AddWithValue("snap", NpgsqlTypes.NpgsqlDbType.Uuid, (object?)sourceSnapshotId ?? DBNull.Value);
            cmd.Parameters.AddWithValue("vol", NpgsqlTypes.NpgsqlDbType.Uuid, (object?)sourceVolumeId ?? DBNull.Value);
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            throw new BlockStoreException(ErrorIds.VolumeNameInUse, ErrorKind.ResourceExists,
                $"A volume named '{name}' already exists in its project. Names are unique within a project among volumes that are not deleted.", name);
        }

        await Events.AddAsync(conn, tx, id, hostName, null, "requested", message, ct).ConfigureAwait(false);
        await Events.NotifyAsync(conn, tx, Channels.Agent, hostName, ct).ConfigureAwait(false);
        var result = await VolumeTransitions.GetAsync(conn, tx, id, ct).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return result!;
    }

    /// <summary>
    /// Asks for deletion. The delete operation queues behind any unfinished create of the same
    /// volume, so a volume still being created is removed once creation settles, LV included.
    /// A volume that never reached a host (still waiting for a scheduler, or failed placement) is
    /// deleted at once: there is nothing on any host to remove.
    /// </summary>
    public Task<BlockVolume> RequestDeleteAsync(Guid id, CancellationToken ct = default) =>
        RequestDeleteAsync(id, force: false, ct);

    /// <summary>
    /// Asks for deletion. An attached volume (attaching, in-use, detaching) is refused with
    /// VolumeInUse unless <paramref name="force"/>: then every live attachment is detached first
    /// (detach operations queue ahead of the delete).
    /// </summary>
    public Task<BlockVolume> RequestDeleteAsync(Guid id, bool force, CancellationToken ct = default) =>
        RequestDeleteAsync(id, force, cascade: false, ct);

    /// <summary>
    /// Asks for deletion. A volume with snapshots (any not deleted) is refused with
    /// VolumeHasSnapshots unless <paramref name="cascade"/>: then their removal is queued first.
    /// </summary>
    public Task<BlockVolume> RequestDeleteAsync(Guid id, bool force, bool cascade, CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);

            // Waiting here for a scheduler that is placing this volume is what lets us see whether
            // it got a host (then the LV must be removed by its agent) or not.
            var volume = await VolumeTransitions.LockWithOperationsAsync(conn, tx, id, ct).ConfigureAwait(false);

            if (volume.Status is VolumeStatus.Deleting or VolumeStatus.Deleted)
            {
                await tx.CommitAsync(ct).ConfigureAwait(false);
                return volume; // already on its way: asking twice is not an error
            }

            await using (var clones = new NpgsqlCommand(
                "SELECT count(*) FROM bs.operations WHERE source_volume_id = @id AND stage IN ('pending', 'scheduled', 'running')", conn, tx))
            {
                clones.Parameters.AddWithValue("id", id);
                if ((long)(await clones.ExecuteScalarAsync(ct).ConfigureAwait(false))! > 0)
                {
                    throw new BlockStoreException(ErrorIds.InvalidVolumeState, ErrorKind.InvalidOperation,
                        $"A clone of volume '{volume.Name}' is being made; remove the volume once the clone is available or error. Nothing was requested.", volume);
                }
            }

            var snapshots = await SnapshotTransitions.CountBlockingAsync(conn, tx, id, ct).ConfigureAwait(false);
            if (snapshots > 0 && !cascade)
            {
                throw new BlockStoreException(ErrorIds.VolumeHasSnapshots, ErrorKind.InvalidOperation,
                    $"Volume '{volume.Name}' has {snapshots} snapshot(s): remove them first (Get-BlockVolumeSnapshot -VolumeId {id} | Remove-BlockVolumeSnapshot), " +
                    "or use -Cascade to remove them with the volume. Nothing was requested.", volume);
            }

            if (VolumeStatus.IsAttached(volume.Status))
            {
                if (!force)
                {
                    throw new BlockStoreException(ErrorIds.VolumeInUse, ErrorKind.InvalidOperation,
                        $"Volume '{volume.Name}' is {volume.Status}: detach it first (Remove-BlockVolumeAttachment), or use -Force to detach and delete.", volume);
                }

                await AttachmentTransitions.QueueDetachAllAsync(conn, tx, volume, ct).ConfigureAwait(false);
            }

            if (!VolumeStateMachine.CanRequestDelete(volume.Status, force))
            {
                throw new BlockStoreException(ErrorIds.InvalidVolumeState, ErrorKind.InvalidOperation,
                    $"Volume '{volume.Name}' is {volume.Status} and cannot be deleted now.", volume);
            }

            if (snapshots > 0)
            {
                // -Cascade: the snapshots' removal queues ahead of the volume's delete.
                await SnapshotTransitions.QueueDeleteAllAsync(conn, tx, volume, ct).ConfigureAwait(false);
            }

            // Cancel a create that no scheduler has placed yet: nothing exists on any host.
            int cancelled;
            await using (var cmd = new NpgsqlCommand(
                "UPDATE bs.operations SET stage = 'cancelled', finished_at = now(), updated_at = now(), error = 'volume deleted before placement' " +
                "WHERE volume_id = @id AND stage = 'pending'", conn, tx))
            {
                cmd.Parameters.AddWithValue("id", id);
                cancelled = await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            if (volume.Host is null)
            {
                await VolumeTransitions.SetStatusAsync(conn, tx, id, volume.Status, VolumeStatus.Deleted, "deleted before it was placed on a host", ct).ConfigureAwait(false);
                await Events.AddAsync(conn, tx, id, null, null, "deleted",
                    cancelled > 0 ? "deleted before placement; the create request was cancelled" : "deleted; it had no host", ct).ConfigureAwait(false);
            }
            else
            {
                await VolumeTransitions.SetStatusAsync(conn, tx, id, volume.Status, VolumeStatus.Deleting, null, ct).ConfigureAwait(false);
                await using (var cmd = new NpgsqlCommand(
                    "INSERT INTO bs.operations (volume_id, kind, stage, host) VALUES (@id, 'delete', 'scheduled', @h)", conn, tx))
                {
                    cmd.Parameters.AddWithValue("id", id);
                    cmd.Parameters.AddWithValue("h", volume.Host);
                    await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                await Events.AddAsync(conn, tx, id, volume.Host, null, "requested", "delete requested", ct).ConfigureAwait(false);
                await Events.NotifyAsync(conn, tx, Channels.Agent, volume.Host, ct).ConfigureAwait(false);
            }

            var result = await VolumeTransitions.GetAsync(conn, tx, id, ct).ConfigureAwait(false);
            await tx.CommitAsync(ct).ConfigureAwait(false);
            return result!;
        }, ct);

    /// <summary>
    /// Asks to grow a volume to <paramref name="sizeGiB"/> (Resize-BlockVolume). Checked in one
    /// transaction: the size (larger than now, in range), the status (available, or in-use on a host
    /// that exports with LIO; attaching/detaching, or in-use elsewhere, is VolumeInUse), and the room on the volume's host under the same capacity rules as placement,
    /// with the host's ledger row locked so no placement takes that room meanwhile. Then the volume
    /// holds the new size at once (the ledger moves by its trigger), goes 'extending', and an
    /// 'extend' operation remembering the old size is queued for the host's agent.
    /// </summary>
    public Task<BlockVolume> RequestExtendAsync(Guid id, long sizeGiB, CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);

            // Operations, then the volume (VolumeTransitions.LockWithOperationsAsync), then the host's ledger row.
            var volume = await VolumeTransitions.LockWithOperationsAsync(conn, tx, id, ct).ConfigureAwait(false);
            Validation.ExtendSize(volume.Name, volume.SizeGiB, sizeGiB);
            var lio = volume.Status == VolumeStatus.InUse && volume.Host is not null
                && await HostCapabilities.ReadFlagAsync(conn, tx, volume.Host, "iscsi", ct).ConfigureAwait(false);
            if (VolumeStatus.IsAttached(volume.Status) && !VolumeStateMachine.CanRequestExtend(volume.Status, lio))
            {
                throw new BlockStoreException(ErrorIds.VolumeInUse, ErrorKind.InvalidOperation, volume.Status == VolumeStatus.InUse
                    ? $"Volume '{volume.Name}' is in-use on host {volume.Host}, which does not report an LIO iSCSI target: what its initiator would see after " +
                      "the LV grows is not proven there. Detach it first (Remove-BlockVolumeAttachment). Nothing was requested."
                    : $"Volume '{volume.Name}' is {volume.Status}: wait until its attach or detach has finished, then extend it. Nothing was requested.", volume);
            }

            if (!VolumeStateMachine.CanRequestExtend(volume.Status, lio) || volume.Host is null)
            {
                throw new BlockStoreException(ErrorIds.InvalidVolumeState, ErrorKind.InvalidOperation,
                    $"Volume '{volume.Name}' is {volume.Status} and cannot be extended now; only an available or in-use volume can. Nothing was requested.", volume);
            }

            var grow = (int)sizeGiB - volume.SizeGiB;
            var host = await SchedulerQueue.LockHostAsync(conn, tx, volume.Host, ct).ConfigureAwait(false);
            var noRoom = host is null ? "it reports no capacity" : PlacementPolicy.CapacityRejection(host, grow);
            if (noRoom is not null)
            {
                throw new BlockStoreException(ErrorIds.InsufficientCapacity, ErrorKind.ResourceUnavailable,
                    $"Host {volume.Host} has no room to grow '{volume.Name}' by {grow} GiB to {sizeGiB} GiB: {noRoom}. Nothing was requested.", volume);
            }

            await using (var cmd = new NpgsqlCommand(
                "UPDATE bs.volumes SET size_gib = @n WHERE id = @id; " +
                "INSERT INTO bs.operations (volume_id, kind, stage, host, from_size_gib) VALUES (@id, 'extend', 'scheduled', @h, @from)", conn, tx))
            {
                cmd.Parameters.AddWithValue("id", id);
                cmd.Parameters.AddWithValue("n", (int)sizeGiB);
                cmd.Parameters.AddWithValue("h", volume.Host);
                cmd.Parameters.AddWithValue("from", volume.SizeGiB);
                await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            await VolumeTransitions.SetStatusAsync(conn, tx, id, volume.Status, VolumeStatus.Extending, null, ct).ConfigureAwait(false);
            await Events.AddAsync(conn, tx, id, volume.Host, null, "requested", $"extend requested: {volume.SizeGiB} GiB -> {sizeGiB} GiB", ct).ConfigureAwait(false);
            await Events.NotifyAsync(conn, tx, Channels.Agent, volume.Host, ct).ConfigureAwait(false);
            var result = await VolumeTransitions.GetAsync(conn, tx, id, ct).ConfigureAwait(false);
            await tx.CommitAsync(ct).ConfigureAwait(false);
            return result!;
        }, ct);

    /// <summary>Starts listening for volume status changes (for -Wait); the caller disposes it.</summary>
    public Task<VolumeStatusListener> ListenAsync(CancellationToken ct = default) => VolumeStatusListener.StartAsync(store, ct);

    public Task<BlockVolume?> GetAsync(Guid id, CancellationToken ct = default) =>
        store.RunAsync(conn => VolumeTransitions.GetAsync(conn, null, id, ct), ct);

    public Task<List<BlockVolume>> ListAsync(VolumeFilter filter, CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            await using var cmd = ListCommand(conn, filter, count: false);
            return await Rows.ListAsync(cmd, VolumeTransitions.Read, ct).ConfigureAwait(false);
        }, ct);

    /// <summary>
    /// The volumes of <paramref name="filter"/>, one at a time as the database sends them: the first
    /// arrives before the last is read (Get-BlockVolume writes each to the pipeline at once). An
    /// outage, before or during the rows, is StoreUnavailable.
    /// </summary>
    public async IAsyncEnumerable<BlockVolume> StreamAsync(VolumeFilter filter, [EnumeratorCancellation] CancellationToken ct = default)
    {
        var (conn, cmd, reader) = await store.OpenReaderAsync(c => CursorCommand(c, filter), ct).ConfigureAwait(false);
        await using (conn.ConfigureAwait(false))
        {
            for (var more = true; more;)
            {
                var rows = 0;
                await using (cmd.ConfigureAwait(false))
                await using (reader.ConfigureAwait(false))
                {
                    // The first command's results begin with BEGIN and DECLARE (no rows): on to the FETCH.
                    while (reader.FieldCount == 0 && await store.TranslateAsync(() => reader.NextResultAsync(ct)).ConfigureAwait(false))
                    {
                    }

                    while (await store.TranslateAsync(() => reader.ReadAsync(ct)).ConfigureAwait(false))
                    {
                        rows++;
                        yield return VolumeTransitions.Read(reader);
                    }
                }

                more = rows == StreamPage;
                if (more)
                {
                    cmd = new NpgsqlCommand($"FETCH {StreamPage} FROM volume_listing", conn);
                    reader = await store.TranslateAsync(() => cmd.ExecuteReaderAsync(ct)).ConfigureAwait(false);
                }
            }
        }

        // Disposing the connection ends the read-only transaction (the pool rolls it back) and the cursor with it.
    }

    // Rows are read from a cursor, a page at a time, in one read-only transaction (one snapshot, as
    // one SELECT). A consumer that stops early (Get-BlockVolume | Select-Object -First 1) leaves at
    // most one page unread: disposing a plain reader first read the rest of the result, so at
    // 100,000 volumes the first object came in 6 ms and the pipeline ended a second later
    // (tests/bench/Scale.Bench.ps1, 2026-12-04).
    private const int StreamPage = 500;

    /// <summary>The listing as a cursor, with its first page: one round trip.</summary>
    private static NpgsqlCommand CursorCommand(NpgsqlConnection conn, VolumeFilter filter)
    {
        var cmd = ListCommand(conn, filter, count: false);
        cmd.CommandText = $"BEGIN READ ONLY; DECLARE volume_listing NO SCROLL CURSOR FOR {cmd.CommandText}; FETCH {StreamPage} FROM volume_listing";
        return cmd;
    }

    /// <summary>How many volumes <paramref name="filter"/> matches, paging left out (Get-BlockVolume -IncludeTotalCount).</summary>
    public Task<long> CountAsync(VolumeFilter filter, CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            await using var cmd = ListCommand(conn, filter with { Skip = 0, First = null }, count: true);
            return (long)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
        }, ct);

    /// <summary>The listing query of a filter: every value a parameter; in creation order (index volumes_live_created).</summary>
    private static NpgsqlCommand ListCommand(NpgsqlConnection conn, VolumeFilter filter, bool count)
    {
        var cmd = new NpgsqlCommand { Connection = conn };
        var where = new WhereClause(cmd);
        // Deleted volumes are history: shown only when asked for (IncludeDeleted, or -Status deleted).
        if (!filter.IncludeDeleted && !(filter.Statuses?.Contains(VolumeStatus.Deleted) ?? false))
        {
            where.Add("v.status <> 'deleted'");
        }

        if (filter.NamePatterns is { Count: > 0 })
        {
            // Wildcards are translated to LIKE patterns, or, with a [set] or an escape, to anchored
            // regular expressions (WildcardTranslator); the values stay parameters.
            var likes = filter.NamePatterns.Where(p => !WildcardTranslator.NeedsRegex(p)).Select(WildcardTranslator.ToLike).ToArray();
            var regexes = filter.NamePatterns.Where(WildcardTranslator.NeedsRegex).Select(WildcardTranslator.ToRegex).ToArray();
            var names = new List<string>();
            if (likes.Length > 0)
            {
                names.Add("v.name ILIKE ANY(@names)");
                cmd.Parameters.AddWithValue("names", likes);
            }

            if (regexes.Length > 0)
            {
                names.Add("v.name ~* ANY(@nameRegexes)");
                cmd.Parameters.AddWithValue("nameRegexes", regexes);
            }

            where.Add(names.Count == 1 ? names[0] : $"({string.Join(" OR ", names)})");
        }

        where.AnyOf("v.id", "ids", filter.Ids);
        where.AnyOf("v.status", "statuses", filter.Statuses);
        where.AnyOf("v.host", "hosts", filter.Hosts);
        where.AnyOf("v.project", "projects", filter.Projects);
        where.AnyOf("v.volume_type", "types", filter.VolumeTypes);
        var whereSql = where.ToString();
        if (count)
        {
            cmd.CommandText = "SELECT count(*) FROM bs.volumes v" + whereSql;
            return cmd;
        }

        cmd.CommandText = $"SELECT {VolumeTransitions.Columns} FROM bs.volumes v{whereSql} ORDER BY v.created_at, v.id";
        if (filter.First is { } first)
        {
            cmd.CommandText += " LIMIT @first";
            cmd.Parameters.AddWithValue("first", first);
        }

        if (filter.Skip > 0)
        {
            cmd.CommandText += " OFFSET @skip";
            cmd.Parameters.AddWithValue("skip", filter.Skip);
        }

        return cmd;
    }

    public Task<List<BlockVolumeEvent>> ListEventsAsync(Guid? volumeId, int limit, CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand(
                "SELECT id, at, volume_id, host, kind, message, actor FROM (" +
                "  SELECT * FROM bs.events WHERE (@v::uuid IS NULL OR volume_id = @v) ORDER BY id DESC LIMIT @l) e ORDER BY id", conn);
            cmd.Parameters.AddWithValue("v", NpgsqlTypes.NpgsqlDbType.Uuid, (object?)volumeId ?? DBNull.Value);
            cmd.Parameters.AddWithValue("l", limit);
            return await Rows.ListAsync(cmd, r => new BlockVolumeEvent
            {
                Id = r.GetInt64(0),
                Time = r.GetDateTime(1),
                VolumeId = r.GuidOrNull(2),
                Host = r.StringOrNull(3),
                Kind = r.GetString(4),
                Message = r.GetString(5),
                Actor = r.GetString(6),
            }, ct).ConfigureAwait(false);
        }, ct);

    /// <summary>Converts a PowerShell wildcard (*, ?) into an escaped LIKE pattern (see WildcardTranslator).</summary>
    public static string WildcardToLike(string pattern) => WildcardTranslator.ToLike(pattern);
}
