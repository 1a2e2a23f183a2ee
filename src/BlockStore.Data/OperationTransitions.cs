using BlockStore.Core;
using Npgsql;

namespace BlockStore.Data;

/// <summary>
/// The operation row's last step, shared by the agent's volume and attachment queues: an
/// operation is finished only by the worker that still holds its lease.
/// </summary>
internal static class OperationTransitions
{
    /// <summary>
    /// Marks a running operation succeeded (no <paramref name="error"/>) or failed, if
    /// <paramref name="owner"/> still holds its lease; otherwise rolls the transaction back and
    /// returns false (a newer claim finishes it).
    /// </summary>
    public static async Task<bool> FinishAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long operationId, string owner, string? error, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(FinishSql, conn, tx);
        FinishParameters(cmd.Parameters, operationId, owner, error);
        if (await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 0)
        {
            await tx.RollbackAsync(ct).ConfigureAwait(false);
            return false;
        }

        return true;
    }

    /// <summary>
    /// The same update as <see cref="FinishAsync"/>, as one statement of the caller's batch: it
    /// returns the operation's id when it finished it, no row when the lease is lost (the caller
    /// then rolls back itself).
    /// </summary>
    public static NpgsqlBatchCommand FinishCommand(long operationId, string owner, string? error)
    {
        // RETURNING: the batch's reader then has this statement's (empty or one-row) result first, whatever follows.
        var cmd = new NpgsqlBatchCommand(FinishSql + " RETURNING id");
        FinishParameters(cmd.Parameters, operationId, owner, error);
        return cmd;
    }

    private const string FinishSql =
        "UPDATE bs.operations SET stage = @stage, error = @e, finished_at = now(), updated_at = now(), lease_expires_at = NULL " +
        "WHERE id = @id AND lease_owner = @o AND stage = 'running'";

    private static void FinishParameters(NpgsqlParameterCollection p, long operationId, string owner, string? error)
    {
        p.AddWithValue("id", operationId);
        p.AddWithValue("o", owner);
        p.AddWithValue("stage", error is null ? OperationStage.Succeeded : OperationStage.Failed);
        p.AddWithValue("e", (object?)error ?? DBNull.Value);
    }
}
