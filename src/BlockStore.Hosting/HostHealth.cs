using System.Text.Json;
using System.Text.Json.Nodes;
using BlockStore.Data;

namespace BlockStore.Hosting;

/// <summary>One line of /healthz: a check's name, its state, and why. Required checks decide 200 or 503.</summary>
public sealed record HealthCheck(string Name, bool Ok, string? Detail, bool Required = true);

/// <summary>A host's extra health checks (the agent's iSCSI state), read at each /healthz request.</summary>
public interface IHealthCheckSource
{
    IEnumerable<HealthCheck> Checks();
}

/// <summary>
/// What /healthz and the heartbeat gauges report, as of the last heartbeat: no request probes the
/// database or LVM itself, so a scraper cannot load the host and the answer is what the
/// scheduler also sees. The heartbeat job records each result here. Healthy means the last
/// heartbeat reached the database and, for an agent, that its capacity report found the volume
/// group (or thin pool); extra sources (iSCSI) add their checks.
/// </summary>
public sealed class HostHealth(TimeProvider time, IEnumerable<IHealthCheckSource> sources)
{
    private readonly object _lock = new();
    private DateTimeOffset? _lastSuccess;
    private bool? _databaseReachable;
    private string? _databaseError;
    private CapacityReport? _report;

    public HostHealth() : this(TimeProvider.System, [])
    {
    }

    public DateTimeOffset? LastHeartbeatSuccess { get { lock (_lock) { return _lastSuccess; } } }

    public CapacityReport? LastReport { get { lock (_lock) { return _report; } } }

    /// <summary>
    /// Records one heartbeat's result; returns true when it succeeded after a failure, i.e. the host
    /// reached the database again (the reconnect counter counts those).
    /// </summary>
    public bool RecordHeartbeat(bool reached, string? error, CapacityReport? report)
    {
        lock (_lock)
        {
            var reconnected = reached && _databaseReachable == false;
            _databaseReachable = reached;
            _databaseError = reached ? null : error;
            if (reached)
            {
                _lastSuccess = time.GetUtcNow();
            }

            // A report that was measured but could not be sent is still the host's own truth.
            if (report is not null)
            {
                _report = report;
            }

            return reconnected;
        }
    }

    /// <summary>Seconds since the last heartbeat that landed; null before the first.</summary>
    public double? HeartbeatAgeSeconds => LastHeartbeatSuccess is { } at ? (time.GetUtcNow() - at).TotalSeconds : null;

    public IReadOnlyList<HealthCheck> Checks()
    {
        var list = new List<HealthCheck>();
        lock (_lock)
        {
            list.Add(_databaseReachable switch
            {
                null => new HealthCheck("database", false, "no heartbeat yet"),
                true => new HealthCheck("database", true, null),
                false => new HealthCheck("database", false, _databaseError),
            });
            if (_report is not null)
            {
                list.Add(new HealthCheck("volume_group", _report.Healthy, _report.HealthReason));
            }
        }

        foreach (var source in sources)
        {
            list.AddRange(source.Checks());
        }

        return list;
    }

    /// <summary>The /healthz answer: healthy when every required check is; the body is JSON with each check.</summary>
    public (bool Healthy, string Json) Report(string host, string service)
    {
        var checks = Checks();
        var healthy = checks.Where(c => c.Required).All(c => c.Ok);
        var body = new JsonObject
        {
            ["status"] = healthy ? "healthy" : "unhealthy",
            ["host"] = host,
            ["service"] = service,
            ["lastHeartbeatAt"] = LastHeartbeatSuccess?.ToString("O"),
            ["heartbeatAgeSeconds"] = HeartbeatAgeSeconds is { } age ? Math.Round(age, 3) : null,
        };
        var items = new JsonObject();
        foreach (var c in checks)
        {
            items[c.Name] = new JsonObject { ["ok"] = c.Ok, ["required"] = c.Required, ["detail"] = c.Detail };
        }

        body["checks"] = items;
        return (healthy, body.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
    }
}
