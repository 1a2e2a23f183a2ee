using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using BlockStore.Core;
using BlockStore.Data;

namespace BlockStore.Commands;

/// <summary>
/// Base of the live-data completers. A completer must never block the prompt: it waits at most
/// 300 ms for its query (which goes on in the background and fills the cache), results are cached
/// for a few seconds (a stale list is better than none), and any failure (not connected, database
/// down) completes nothing rather than erroring.
/// </summary>
public abstract class LiveCompleter : IArgumentCompleter
{
    private static readonly TimeSpan Deadline = TimeSpan.FromMilliseconds(300);
    private static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan BackgroundLimit = TimeSpan.FromSeconds(10);
    private static readonly Dictionary<string, (DateTime At, List<string> Values)> Cache = new();
    private static readonly Dictionary<string, Task<List<string>>> InFlight = new();

    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var word = wordToComplete.Trim('\'', '"');
        var pattern = WildcardPattern.Get(word + "*", WildcardOptions.IgnoreCase);
        return Values()
            .Where(v => pattern.IsMatch(v))
            .Select(v => new CompletionResult(Quote(v), v, CompletionResultType.ParameterValue, v));
    }

    protected abstract string CacheKey { get; }

    protected abstract Task<List<string>> QueryAsync(StoreConnection store, CancellationToken ct);

    private List<string> Values()
    {
        Task<List<string>> query;
        List<string>? stale = null;
        lock (Cache)
        {
            if (Cache.TryGetValue(CacheKey, out var hit))
            {
                if (DateTime.UtcNow - hit.At < CacheFor)
                {
                    return hit.Values;
                }

                stale = hit.Values;
            }

            // One query per key at a time; a query that outlives the deadline still fills the cache,
            // so the first Tab of a session (driver load, first connection) pays off on the next Tab.
            if (!InFlight.TryGetValue(CacheKey, out query!))
            {
                query = StartQuery();
                InFlight[CacheKey] = query;
            }
        }

        try
        {
            return query.Wait(Deadline) ? query.Result : stale ?? [];
        }
        catch (Exception)
        {
            return stale ?? []; // completion is best effort
        }
    }

    private Task<List<string>> StartQuery()
    {
        var key = CacheKey;
        return Task.Run(async () =>
        {
            try
            {
                using var cts = new CancellationTokenSource(BackgroundLimit);
                var values = await QueryAsync(Session.Current, cts.Token).ConfigureAwait(false);
                lock (Cache)
                {
                    Cache[key] = (DateTime.UtcNow, values);
                }

                return values;
            }
            finally
            {
                lock (Cache)
                {
                    InFlight.Remove(key);
                }
            }
        });
    }

    private static string Quote(string v) => v.Any(c => char.IsWhiteSpace(c) || c is '\'' or '"' or '$' or '`') ? $"'{v.Replace("'", "''")}'" : v;
}

/// <summary>Completes registered host names.</summary>
public sealed class HostNameCompleter : LiveCompleter
{
    protected override string CacheKey => "hosts";

    protected override Task<List<string>> QueryAsync(StoreConnection store, CancellationToken ct) =>
        new ServiceRegistry(store).HostNamesAsync("", ct);
}

/// <summary>Completes the names of live volumes.</summary>
public sealed class VolumeNameCompleter : LiveCompleter
{
    protected override string CacheKey => "volume-names";

    protected override async Task<List<string>> QueryAsync(StoreConnection store, CancellationToken ct) =>
        (await new VolumeRequests(store).ListAsync(new VolumeFilter(), ct)).Select(v => v.Name).Take(500).ToList();
}

/// <summary>Completes the ids of live volumes (the tooltip shows the name).</summary>
public sealed class VolumeIdCompleter : LiveCompleter
{
    protected override string CacheKey => "volume-ids";

    protected override async Task<List<string>> QueryAsync(StoreConnection store, CancellationToken ct) =>
        (await new VolumeRequests(store).ListAsync(new VolumeFilter(), ct)).Select(v => v.Id.ToString()).Take(500).ToList();
}

/// <summary>Completes the ids of snapshots that are not deleted (the tooltip shows the name).</summary>
public sealed class SnapshotIdCompleter : LiveCompleter
{
    protected override string CacheKey => "snapshot-ids";

    protected override async Task<List<string>> QueryAsync(StoreConnection store, CancellationToken ct) =>
        (await new SnapshotRequests(store).ListAsync(new SnapshotFilter(), ct)).Select(s => s.Id.ToString()).Take(500).ToList();
}

/// <summary>Completes the names of snapshots that are not deleted.</summary>
public sealed class SnapshotNameCompleter : LiveCompleter
{
    protected override string CacheKey => "snapshot-names";

    protected override async Task<List<string>> QueryAsync(StoreConnection store, CancellationToken ct) =>
        (await new SnapshotRequests(store).ListAsync(new SnapshotFilter(), ct)).Select(s => s.Name).Distinct().Take(500).ToList();
}

/// <summary>Completes snapshot statuses (a fixed list: no database call).</summary>
public sealed class SnapshotStatusCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters) =>
        SnapshotStatus.All.Where(s => s.StartsWith(wordToComplete.Trim('\'', '"'), StringComparison.OrdinalIgnoreCase))
            .Select(s => new CompletionResult(s, s, CompletionResultType.ParameterValue, s));
}

/// <summary>Completes availability zones that have a volume service.</summary>
public sealed class ZoneCompleter : LiveCompleter
{
    protected override string CacheKey => "zones";

    protected override async Task<List<string>> QueryAsync(StoreConnection store, CancellationToken ct) =>
        (await new ServiceRegistry(store).ListAsync(null, "volume", ct)).Select(s => s.Zone).Distinct().Order().ToList();
}

/// <summary>Completes volume statuses (a fixed list: no database call).</summary>
public sealed class StatusCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters) =>
        VolumeStatus.All.Where(s => s.StartsWith(wordToComplete.Trim('\'', '"'), StringComparison.OrdinalIgnoreCase))
            .Select(s => new CompletionResult(s, s, CompletionResultType.ParameterValue, s));
}

/// <summary>Completes log level names (a fixed list: no database call).</summary>
public sealed class LogLevelCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters) =>
        Validation.LogLevels.Where(l => l.StartsWith(wordToComplete.Trim('\'', '"'), StringComparison.OrdinalIgnoreCase))
            .Select(l => new CompletionResult(l, l, CompletionResultType.ParameterValue, l));
}

/// <summary>Completes the names of projects that are not removed.</summary>
public sealed class ProjectNameCompleter : LiveCompleter
{
    protected override string CacheKey => "projects";

    protected override async Task<List<string>> QueryAsync(StoreConnection store, CancellationToken ct) =>
        (await new ProjectRequests(store).ListAsync(null, ct)).Select(p => p.Name).Take(500).ToList();
}

/// <summary>Completes volume type names.</summary>
public sealed class VolumeTypeNameCompleter : LiveCompleter
{
    protected override string CacheKey => "volume-types";

    protected override async Task<List<string>> QueryAsync(StoreConnection store, CancellationToken ct) =>
        (await new VolumeTypeRequests(store).ListAsync(null, ct)).Select(t => t.Name).Take(500).ToList();
}
