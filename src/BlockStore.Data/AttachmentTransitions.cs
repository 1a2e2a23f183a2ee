using System.Security;
using BlockStore.Core;
using Npgsql;

namespace BlockStore.Data;

/// <summary>
/// The attachment row's transitions in the database: read attachments (with the CHAP secret only
/// when asked for), move an attachment's status, and queue its attach or detach operation. Called by
/// the request classes (attach, detach, a forced volume delete) and the agent's attachment queue.
/// </summary>
internal static class AttachmentTransitions
{
    public const string Columns =
        "a.id, a.volume_id, v.name, a.host, a.initiator_iqn, a.status, a.status_reason, a.target_iqn, a.target_portal, " +
        "a.target_lun, a.auth_method, a.auth_username, a.created_at, a.updated_at";

    /// <summary>Used by RequestDeleteAsync with -Force: detach every live attachment of the volume first.</summary>
    public static async Task QueueDetachAllAsync(NpgsqlConnection conn, NpgsqlTransaction tx, BlockVolume volume, CancellationToken ct)
    {
        var live = await ReadAsync(conn, tx, "WHERE a.volume_id = @v AND a.status IN ('attaching', 'attached', 'error')",
            p => p.AddWithValue("v", volume.Id), false, ct).ConfigureAwait(false);
        foreach (var a in live)
        {
            await DetachOneAsync(conn, tx, volume, a, ct).ConfigureAwait(false);
        }
    }

    public static async Task DetachOneAsync(NpgsqlConnection conn, NpgsqlTransaction tx, BlockVolume volume, BlockVolumeAttachment a, CancellationToken ct)
    {
        await SetStatusAsync(conn, tx, a.Id, AttachmentStatus.Detaching, null, ct).ConfigureAwait(false);
        await QueueAsync(conn, tx, volume.Id, a.Host, OperationKind.Detach, a.Id, ct).ConfigureAwait(false);
        await Events.AddAsync(conn, tx, volume.Id, a.Host, null, "requested", $"detach requested for initiator {a.InitiatorIqn}", ct).ConfigureAwait(false);
    }

    public static async Task QueueAsync(NpgsqlConnection conn, NpgsqlTransaction tx, Guid volumeId, string host, string kind, Guid attachmentId, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "INSERT INTO bs.operations (volume_id, kind, stage, host, attachment_id) VALUES (@v, @k, 'scheduled', @h, @a)", conn, tx);
        cmd.Parameters.AddWithValue("v", volumeId);
        cmd.Parameters.AddWithValue("k", kind);
        cmd.Parameters.AddWithValue("h", host);
        cmd.Parameters.AddWithValue("a", attachmentId);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    public static async Task SetStatusAsync(NpgsqlConnection conn, NpgsqlTransaction tx, Guid id, string status, string? reason, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "UPDATE bs.attachments SET status = @s, status_reason = @r, updated_at = now(), " +
            "detached_at = CASE WHEN @s = 'detached' THEN now() ELSE NULL END WHERE id = @id", conn, tx);
        cmd.Parameters.AddWithValue("id", id);
        cmd.Parameters.AddWithValue("s", status);
        cmd.Parameters.AddWithValue("r", (object?)reason ?? DBNull.Value);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    public static async Task<List<BlockVolumeAttachment>> ReadAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string whereAndOrder,
        Action<NpgsqlParameterCollection> bind, bool includeSecret, CancellationToken ct)
    {
        // The secret is joined only when asked for, so a plain listing never reads that table.
        var secretColumn = includeSecret ? ", s.auth_secret" : "";
        var secretJoin = includeSecret ? " LEFT JOIN bs.attachment_secrets s ON s.attachment_id = a.id" : "";
        await using var cmd = new NpgsqlCommand(
            $"SELECT {Columns}{secretColumn} FROM bs.attachments a JOIN bs.volumes v ON v.id = a.volume_id{secretJoin} {whereAndOrder}", conn, tx);
        bind(cmd.Parameters);
        return await Rows.ListAsync(cmd, r => new BlockVolumeAttachment
        {
            Id = r.GetGuid(0),
            VolumeId = r.GetGuid(1),
            VolumeName = r.GetString(2),
            Host = r.GetString(3),
            InitiatorIqn = r.GetString(4),
            Status = r.GetString(5),
            StatusReason = r.StringOrNull(6),
            TargetIqn = r.StringOrNull(7),
            TargetPortal = r.StringOrNull(8),
            TargetLun = r.Int32OrNull(9),
            AuthMethod = r.GetString(10),
            AuthUsername = r.GetString(11),
            CreatedAt = r.GetDateTime(12),
            UpdatedAt = r.GetDateTime(13),
            AuthPassword = includeSecret && !r.IsDBNull(14) ? ToSecure(r.GetString(14)) : null,
        }, ct).ConfigureAwait(false);
    }

    private static SecureString ToSecure(string s)
    {
        var secure = new SecureString();
        foreach (var c in s)
        {
            secure.AppendChar(c);
        }

        secure.MakeReadOnly();
        return secure;
    }
}
