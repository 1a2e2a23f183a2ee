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
        await using var cmd = new NpgsqlCommand(
            "UPDATE bs.operations SET stage = @stage, error = @e, finished_at = now(), updated_at = now(), lease_expires_at = NULL " +
            "WHERE id = @id AND lease_owner = @o AND stage = 'running'", conn, tx);
        cmd.Parameters.AddWithValue("id", operationId);
        cmd.Parameters.AddWithValue("o", owner);
        cmd.Parameters.AddWithValue("stage", error is null ? OperationStage.Succeeded : OperationStage.Failed);
        cmd.Parameters.AddWithValue("e", (object?)error ?? DBNull.Value);
        if (await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 0)
        {
            await tx.RollbackAsync(ct).ConfigureAwait(false);
            return false;
        }

        return true;
    }
}
