using System.Management.Automation;
using BlockStore.Core;

namespace BlockStore.Commands;

/// <summary>
/// Base of every BlockStore cmdlet: runs database calls so that Ctrl+C cancels them promptly,
/// and turns BlockStoreException into ErrorRecords with the stable ErrorId, a category and the
/// target object. Terminating or not is the caller's choice, per the cmdlet guidelines.
/// </summary>
public abstract class BlockStoreCmdlet : PSCmdlet
{
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>Cancelled when the user presses Ctrl+C (StopProcessing).</summary>
    protected CancellationToken StopToken => _stopping.Token;

    protected override void StopProcessing() => _stopping.Cancel();

    /// <summary>Runs an async database call on this thread, cancellable by Ctrl+C.</summary>
    protected internal T Run<T>(Func<CancellationToken, Task<T>> call)
    {
        try
        {
            return call(StopToken).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (StopToken.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
    }

    protected internal static ErrorRecord ToErrorRecord(BlockStoreException e) =>
        new(e, e.ErrorId, Category(e.Kind), e.Target);

    protected internal static ErrorRecord ToErrorRecord(string errorId, ErrorKind kind, string message, object? target) =>
        ToErrorRecord(new BlockStoreException(errorId, kind, message, target));

    /// <summary>Stops the whole command: for failures that make every further item pointless.</summary>
    protected void Fail(BlockStoreException e) => ThrowTerminatingError(ToErrorRecord(e));

    public static ErrorCategory Category(ErrorKind kind) => kind switch
    {
        ErrorKind.InvalidArgument => ErrorCategory.InvalidArgument,
        ErrorKind.ObjectNotFound => ErrorCategory.ObjectNotFound,
        ErrorKind.ResourceExists => ErrorCategory.ResourceExists,
        ErrorKind.ResourceUnavailable => ErrorCategory.ResourceUnavailable,
        ErrorKind.InvalidOperation => ErrorCategory.InvalidOperation,
        ErrorKind.OperationTimeout => ErrorCategory.OperationTimeout,
        ErrorKind.ConnectionError => ErrorCategory.ConnectionError,
        ErrorKind.PermissionDenied => ErrorCategory.PermissionDenied,
        ErrorKind.QuotaExceeded => ErrorCategory.QuotaExceeded,
        _ => ErrorCategory.NotSpecified,
    };

    /// <summary>
    /// Calls <paramref name="action"/> and reports a BlockStore failure as a non-terminating error
    /// for this item, except failures of the whole system (no database, no scheduler), which end
    /// the command: no later item could succeed either.
    /// </summary>
    protected void PerItem(Action action)
    {
        try
        {
            action();
        }
        catch (BlockStoreException e) when (e.ErrorId is not (ErrorIds.StoreUnavailable or ErrorIds.NotConnected or ErrorIds.SchedulerUnavailable))
        {
            WriteError(ToErrorRecord(e));
        }
        catch (BlockStoreException e)
        {
            Fail(e);
        }
    }

    /// <summary>Calls <paramref name="action"/>; any BlockStore failure ends the command (with its ErrorId).</summary>
    protected internal T Terminating<T>(Func<T> action)
    {
        try
        {
            return action();
        }
        catch (BlockStoreException e)
        {
            Fail(e);
            throw; // not reached: Fail throws
        }
    }
}
