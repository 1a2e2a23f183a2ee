namespace BlockStore.Hosting;

/// <summary>
/// Wakes a worker loop: set by notifications and by the fallback poll. Several sets before the
/// worker looks collapse into one wake-up, which is right: the worker drains the queue each time.
/// </summary>
public sealed class WorkSignal
{
    private readonly SemaphoreSlim _semaphore = new(0, 1);

    public void Set()
    {
        try
        {
            _semaphore.Release();
        }
        catch (SemaphoreFullException)
        {
            // already signalled
        }
    }

    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken ct) => _semaphore.WaitAsync(timeout, ct);
}
