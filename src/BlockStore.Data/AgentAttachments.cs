using BlockStore.Core;
using Npgsql;

namespace BlockStore.Data;

/// <summary>What an agent needs to run one attach or detach: the initiator, its CHAP credentials,
/// and which other initiators of the volume must keep their access.</summary>
public sealed record AttachmentWork(
    Guid Id,
    Guid VolumeId,
    string InitiatorIqn,
    string UserName,
    string Secret,
    string Status,
    IReadOnlyList<string> OtherLiveInitiators)
{
    // Records print their members; the secret must never reach a log line that way.
    public override string ToString() => $"attachment {Id} of volume {VolumeId} for {InitiatorIqn} ({Status})";
}

/// <summary>The result of an attach or detach as the agent reports it.</summary>
public sealed record AttachmentOutcome(string? Error, string? TargetIqn = null, string? TargetPortal = null, int? TargetLun = null);

/// <summary>
/// The agent's side of attachments: read the work, write the outcome (attachment + volume status +
/// event in one transaction, only while holding the operation's lease), list what the host should
/// export (for reconciling against LIO), and report the host's iSCSI capability.
/// </summary>
public sealed class AgentAttachments(StoreConnection store, string host)
{
    public Task<AttachmentWork?> GetWorkAsync(Guid attachmentId, CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand(
                "SELECT a.id, a.volume_id, a.initiator_iqn, a.auth_username, s.auth_secret, a.status, " +
                "  ARRAY(SELECT o.initiator_iqn FROM bs.attachments o WHERE o.volume_id = a.volume_id AND o.id <> a.id " +
                "        AND o.status IN ('attaching', 'attached')) " +
                "FROM bs.attachments a JOIN bs.attachment_secrets s ON s.attachment_id = a.id WHERE a.id = @id AND a.host = @h", conn);
            cmd.Parameters.AddWithValue("id", attachmentId);
            cmd.Parameters.AddWithValue("h", host);
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            if (!await r.ReadAsync(ct).ConfigureAwait(false))
            {
                return null;
            }

            return new AttachmentWork(r.GetGuid(0), r.GetGuid(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5),
                r.GetFieldValue<string[]>(6));
        }, ct);

    /// <summary>Writes the outcome of an attach/detach operation, if this worker still holds its lease.</summary>
    public Task<bool> CompleteAsync(string owner, long operationId, string kind, Guid volumeId, Guid attachmentId, AttachmentOutcome outcome, CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
            if (!await OperationTransitions.FinishAsync(conn, tx, operationId, owner, outcome.Error, ct).ConfigureAwait(false))
            {
                return false;
            }

            var volume = await VolumeTransitions.LockAsync(conn, tx, volumeId, ct).ConfigureAwait(false);
            var attachment = (await AttachmentTransitions.ReadAsync(conn, tx, "WHERE a.id = @id", p => p.AddWithValue("id", attachmentId), false, ct).ConfigureAwait(false))[0];
            var attach = kind == OperationKind.Attach;
            // A detach requested while the attach ran keeps the attachment 'detaching': its operation runs next.
            var newStatus = (attach, outcome.Error, attachment.Status) switch
            {
                (true, _, AttachmentStatus.Detaching) => AttachmentStatus.Detaching,
                (true, null, _) => AttachmentStatus.Attached,
                (true, _, _) => AttachmentStatus.Error,
                (false, null, _) => AttachmentStatus.Detached,
                // The export is still there: honestly attached, with the reason the detach failed.
                _ => AttachmentStatus.Attached,
            };
            var reason = outcome.Error is null ? null : (attach ? "attach failed: " : "detach failed: ") + outcome.Error;
            await using (var cmd = new NpgsqlCommand(
                "UPDATE bs.attachments SET status = @s, status_reason = @r, updated_at = now(), " +
                "  target_iqn = coalesce(@ti, target_iqn), target_portal = coalesce(@tp, target_portal), target_lun = coalesce(@tl, target_lun), " +
                "  detached_at = CASE WHEN @s = 'detached' THEN now() ELSE NULL END WHERE id = @id", conn, tx))
            {
                cmd.Parameters.AddWithValue("id", attachmentId);
                cmd.Parameters.AddWithValue("s", newStatus);
                cmd.Parameters.AddWithValue("r", (object?)reason ?? DBNull.Value);
                cmd.Parameters.AddWithValue("ti", NpgsqlTypes.NpgsqlDbType.Text, (object?)outcome.TargetIqn ?? DBNull.Value);
                cmd.Parameters.AddWithValue("tp", NpgsqlTypes.NpgsqlDbType.Text, (object?)outcome.TargetPortal ?? DBNull.Value);
                cmd.Parameters.AddWithValue("tl", NpgsqlTypes.NpgsqlDbType.Integer, (object?)outcome.TargetLun ?? DBNull.Value);
                await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            if (volume is not null && VolumeStatus.IsAttached(volume.Status))
            {
                var statuses = new List<string>();
                await using (var cmd = new NpgsqlCommand("SELECT status FROM bs.attachments WHERE volume_id = @v", conn, tx))
                {
                    cmd.Parameters.AddWithValue("v", volumeId);
                    await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
                    while (await r.ReadAsync(ct).ConfigureAwait(false))
                    {
                        statuses.Add(r.GetString(0));
                    }
                }

                var to = VolumeStateMachine.FromAttachments(statuses);
                await VolumeTransitions.SetStatusAsync(conn, tx, volumeId, volume.Status, to, reason, ct).ConfigureAwait(false);
            }

            var (eventKind, message) = (attach, outcome.Error) switch
            {
                (true, null) => ("attached", $"attached for initiator {attachment.InitiatorIqn}: {outcome.TargetIqn} lun {outcome.TargetLun} via {outcome.TargetPortal}"),
                (false, null) => ("detached", $"detached from initiator {attachment.InitiatorIqn}"),
                _ => ("error", $"{reason} (initiator {attachment.InitiatorIqn})"),
            };
            await Events.AddAsync(conn, tx, volumeId, host, "volume", eventKind, message, ct).ConfigureAwait(false);
            // Wakes an -Wait on this attachment at once (delivered at commit); the poll stays the guarantee.
            await Events.NotifyAsync(conn, tx, Channels.VolumeStatus, attachmentId.ToString(), ct).ConfigureAwait(false);
            await tx.CommitAsync(ct).ConfigureAwait(false);
            return true;
        }, ct);

    /// <summary>(volume id, initiator) of every attachment this host should export now.</summary>
    public Task<List<(Guid VolumeId, string Initiator)>> ExpectedExportsAsync(CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand(
                "SELECT volume_id, initiator_iqn FROM bs.attachments WHERE host = @h AND status IN ('attaching', 'attached', 'detaching')", conn);
            cmd.Parameters.AddWithValue("h", host);
            var list = new List<(Guid, string)>();
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                list.Add((r.GetGuid(0), r.GetString(1)));
            }

            return list;
        }, ct);

    /// <summary>Records the host's iSCSI capability in its service row (read by attach requests).</summary>
    public Task ReportCapabilityAsync(bool iscsi, string? reason, CancellationToken ct = default) =>
        HostCapabilities.ReportAsync(store, host, "iscsi", iscsi, reason, ct);

    /// <summary>An event about this host (no volume), e.g. leaked targets found by reconcile.</summary>
    public Task RecordHostEventAsync(Guid? volumeId, string kind, string message, CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            await Events.AddAsync(conn, null, volumeId, host, "volume", kind, message, ct).ConfigureAwait(false);
            return 0;
        }, ct);
}
