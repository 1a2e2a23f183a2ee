using BlockStore.Core;
using Npgsql;

namespace BlockStore.Data;

/// <summary>A user's query filter for attachments; null fields do not filter.</summary>
public sealed record AttachmentFilter(
    IReadOnlyList<Guid>? VolumeIds = null,
    IReadOnlyList<Guid>? Ids = null,
    string? InitiatorIqn = null,
    bool IncludeDetached = false,
    bool IncludeSecret = false,
    IReadOnlyList<string>? Projects = null);

/// <summary>
/// Attach and detach requests from the cmdlets: validate, check the volume's host can export
/// (TargetUnavailable at once rather than a request that would hang), write the attachment row,
/// its CHAP secret and an operation in one transaction, and wake the host's agent.
/// The secret is generated here (cryptographic RNG) so that every retry of the attach, by any
/// agent process, programs the same credentials the requester was given.
/// </summary>
public sealed class AttachmentRequests(StoreConnection store)
{
    /// <summary>Notifications of attachments (and volumes) reaching a final status: see Channels.VolumeStatus.</summary>
    public Task<VolumeStatusListener> ListenAsync(CancellationToken ct = default) => VolumeStatusListener.StartAsync(store, ct);

    /// <summary>
    /// Requests an attachment of the volume for the initiator. Returns the attachment (with its
    /// secret) and whether it already existed: asking twice for the same initiator returns the same
    /// attachment; after a failed one it is a new attachment (AttachRequestRules).
    /// </summary>
    public Task<(BlockVolumeAttachment Attachment, bool Existed)> RequestAttachAsync(Guid volumeId, string initiatorIqn, CancellationToken ct = default)
    {
        var initiator = Iscsi.NormalizeInitiator(initiatorIqn);
        return store.RunAsync(async conn =>
        {
            await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
            var volume = await VolumeTransitions.LockAsync(conn, tx, volumeId, ct).ConfigureAwait(false);
            if (volume is null || volume.Status == VolumeStatus.Deleted)
            {
                throw new BlockStoreException(ErrorIds.VolumeNotFound, ErrorKind.ObjectNotFound, $"No volume with id {volumeId}.", volumeId);
            }

            var live = await AttachmentTransitions.ReadAsync(conn, tx,
                "WHERE a.volume_id = @v AND a.status <> 'detached'", p => p.AddWithValue("v", volumeId), includeSecret: true, ct).ConfigureAwait(false);
            var mine = live.FirstOrDefault(a => a.InitiatorIqn == initiator);
            var action = AttachRequestRules.ForInitiator(mine?.Status);
            if (action == AttachRequestAction.ReturnExisting)
            {
                await tx.CommitAsync(ct).ConfigureAwait(false);
                return (mine!, true);
            }

            if (volume.Host is null || volume.Status is VolumeStatus.Creating or VolumeStatus.Error or VolumeStatus.Deleting or VolumeStatus.ErrorDeleting)
            {
                throw new BlockStoreException(ErrorIds.InvalidVolumeState, ErrorKind.InvalidOperation,
                    $"Volume '{volume.Name}' is {volume.Status} and cannot be attached now.", volume);
            }

            if (await VolumeTransitions.CopiesInTheMakingAsync(conn, tx, volume.Id, withSnapshots: false, ct).ConfigureAwait(false) > 0)
            {
                throw new BlockStoreException(ErrorIds.InvalidVolumeState, ErrorKind.InvalidOperation,
                    $"A clone of volume '{volume.Name}' is being made (on a thick host a block copy that reads it); attach the volume once the clone is available or error. Nothing was requested.", volume);
            }

            var others = live.Where(a => a.InitiatorIqn != initiator && a.Status != AttachmentStatus.Error).ToList();
            if (others.Count > 0 && !volume.MultiAttach)
            {
                throw new BlockStoreException(ErrorIds.VolumeInUse, ErrorKind.InvalidOperation,
                    $"Volume '{volume.Name}' is attached to {others[0].InitiatorIqn}; only volumes created with -MultiAttach accept a second initiator.", volume);
            }

            await EnsureHostCanExportAsync(conn, tx, volume.Host, ct).ConfigureAwait(false);

            // A new attachment, new credentials. A failed one of this initiator is closed first (the
            // live index allows one per initiator) and stays as history with its reason.
            var id = Guid.CreateVersion7();
            if (action == AttachRequestAction.SupersedeFailed)
            {
                await AttachmentTransitions.SetStatusAsync(conn, tx, mine!.Id, AttachmentStatus.Detached,
                    AttachRequestRules.SupersededReason(id, mine.StatusReason), ct).ConfigureAwait(false);
                await Events.AddAsync(conn, tx, volumeId, mine.Host, null, "superseded",
                    $"failed attachment {mine.Id} of initiator {initiator} superseded by {id}", ct).ConfigureAwait(false);
            }

            var (user, secret) = ChapCredentials.Generate();
            await using (var cmd = new NpgsqlCommand(
                "INSERT INTO bs.attachments (id, volume_id, host, initiator_iqn, status, auth_username) VALUES (@id, @v, @h, @i, 'attaching', @u); " +
                "INSERT INTO bs.attachment_secrets (attachment_id, auth_secret) VALUES (@id, @s)", conn, tx))
            {
                cmd.Parameters.AddWithValue("id", id);
                cmd.Parameters.AddWithValue("v", volumeId);
                cmd.Parameters.AddWithValue("h", volume.Host);
                cmd.Parameters.AddWithValue("i", initiator);
                cmd.Parameters.AddWithValue("u", user);
                cmd.Parameters.AddWithValue("s", secret);
                await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            if (volume.Status is VolumeStatus.Available or VolumeStatus.InUse)
            {
                await VolumeTransitions.SetStatusAsync(conn, tx, volumeId, volume.Status, VolumeStatus.Attaching, null, ct).ConfigureAwait(false);
            }

            await AttachmentTransitions.QueueAsync(conn, tx, volumeId, volume.Host, OperationKind.Attach, id, ct).ConfigureAwait(false);
            await Events.AddAsync(conn, tx, volumeId, volume.Host, null, "requested", $"attach requested for initiator {initiator}", ct).ConfigureAwait(false);
            await Events.NotifyAsync(conn, tx, Channels.Agent, volume.Host, ct).ConfigureAwait(false);
            var result = (await AttachmentTransitions.ReadAsync(conn, tx, "WHERE a.id = @id", p => p.AddWithValue("id", id), includeSecret: true, ct).ConfigureAwait(false))[0];
            await tx.CommitAsync(ct).ConfigureAwait(false);
            return (result, false);
        }, ct);
    }

    /// <summary>Requests removal of an attachment; a detached (or detaching) one is returned as it is.</summary>
    public Task<BlockVolumeAttachment> RequestDetachAsync(Guid attachmentId, CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
            var current = (await AttachmentTransitions.ReadAsync(conn, tx, "WHERE a.id = @id", p => p.AddWithValue("id", attachmentId), false, ct).ConfigureAwait(false)).FirstOrDefault()
                ?? throw new BlockStoreException(ErrorIds.AttachmentNotFound, ErrorKind.ObjectNotFound, $"No attachment with id {attachmentId}.", attachmentId);
            var volume = (await VolumeTransitions.LockAsync(conn, tx, current.VolumeId, ct).ConfigureAwait(false))!;
            if (current.Status is AttachmentStatus.Detached or AttachmentStatus.Detaching)
            {
                await tx.CommitAsync(ct).ConfigureAwait(false);
                return current;
            }

            await AttachmentTransitions.DetachOneAsync(conn, tx, volume, current, ct).ConfigureAwait(false);
            if (volume.Status == VolumeStatus.InUse)
            {
                await VolumeTransitions.SetStatusAsync(conn, tx, volume.Id, volume.Status, VolumeStatus.Detaching, null, ct).ConfigureAwait(false);
            }

            await Events.NotifyAsync(conn, tx, Channels.Agent, volume.Host!, ct).ConfigureAwait(false);
            var result = (await AttachmentTransitions.ReadAsync(conn, tx, "WHERE a.id = @id", p => p.AddWithValue("id", attachmentId), false, ct).ConfigureAwait(false))[0];
            await tx.CommitAsync(ct).ConfigureAwait(false);
            return result;
        }, ct);

    public Task<List<BlockVolumeAttachment>> ListAsync(AttachmentFilter filter, CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            var where = new List<string>();
            var binds = new List<Action<NpgsqlParameterCollection>>();
            if (!filter.IncludeDetached && filter.Ids is null)
            {
                where.Add("a.status <> 'detached'");
            }

            if (filter.VolumeIds is { Count: > 0 })
            {
                where.Add("a.volume_id = ANY(@vids)");
                binds.Add(p => p.AddWithValue("vids", filter.VolumeIds.ToArray()));
            }

            if (filter.Projects is { Count: > 0 })
            {
                where.Add("v.project = ANY(@projects)");
                binds.Add(p => p.AddWithValue("projects", filter.Projects.ToArray()));
            }

            if (filter.Ids is { Count: > 0 })
            {
                where.Add("a.id = ANY(@ids)");
                binds.Add(p => p.AddWithValue("ids", filter.Ids.ToArray()));
            }

            if (filter.InitiatorIqn is not null)
            {
                where.Add("a.initiator_iqn = @i");
                var iqn = Iscsi.NormalizeInitiator(filter.InitiatorIqn);
                binds.Add(p => p.AddWithValue("i", iqn));
            }

            var sql = (where.Count > 0 ? "WHERE " + string.Join(" AND ", where) : "") + " ORDER BY a.created_at, a.id";
            return await AttachmentTransitions.ReadAsync(conn, null, sql, p => binds.ForEach(b => b(p)), filter.IncludeSecret, ct).ConfigureAwait(false);
        }, ct);

    /// <summary>The host's volume service must report an iSCSI target (LIO); otherwise TargetUnavailable.</summary>
    private static async Task EnsureHostCanExportAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string host, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "SELECT coalesce((capabilities->>'iscsi')::boolean, false), capabilities->>'iscsi_reason' FROM bs.services WHERE host = @h AND service = 'volume'", conn, tx);
        cmd.Parameters.AddWithValue("h", host);
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await r.ReadAsync(ct).ConfigureAwait(false) || !r.GetBoolean(0))
        {
            var reason = r.HasRows && !r.IsDBNull(1) ? r.GetString(1) : "the host has not reported an iSCSI target";
            throw new BlockStoreException(ErrorIds.TargetUnavailable, ErrorKind.ResourceUnavailable,
                $"Host {host} cannot export volumes over iSCSI: {reason}. Nothing was requested.", host);
        }
    }
}
