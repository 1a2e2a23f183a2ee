namespace BlockStore.Hosting;

/// <summary>Settings every host needs (section "BlockStore" of configuration or the command line).</summary>
public sealed class BlockStoreOptions
{
    public string ConnectionString { get; set; } = "";

    /// <summary>Heartbeat interval; Cinder's report_interval (10 s).</summary>
    public int ReportIntervalSeconds { get; set; } = 10;

    /// <summary>Fallback poll for missed notifications. Notifications do the real work.</summary>
    public int PollIntervalSeconds { get; set; } = 5;

    /// <summary>Apply schema migrations at start (the default, so a new version upgrades itself).</summary>
    public bool MigrateOnStart { get; set; } = true;

    /// <summary>Prometheus metrics and the health endpoint; off unless Metrics:Url is set.</summary>
    public MetricsOptions Metrics { get; set; } = new();
}

/// <summary>Who this process is in the service registry.</summary>
public sealed record ServiceIdentity(string Host, string Service, string Zone)
{
    public string Version { get; } = typeof(ServiceIdentity).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    /// <summary>Lease owner tag: host, process id and start time, unique per process.</summary>
    public string InstanceId { get; } = $"{Host}:{Environment.ProcessId}:{DateTime.UtcNow:HHmmssfff}";
}

/// <summary>BlockStore:Metrics: where the host serves Prometheus /metrics and /healthz.</summary>
public sealed class MetricsOptions
{
    /// <summary>
    /// An HttpListener prefix such as http://127.0.0.1:9464/ (the paths /metrics and /healthz are
    /// served below it). Empty, the default: no listener, so nothing is exposed unless asked for.
    /// </summary>
    public string Url { get; set; } = "";

    /// <summary>
    /// The base URL scrapers reach the listener at, when that is not <see cref="Url"/>: a listener on
    /// a wildcard or private address behind a port forward or NAT (the lab's guest listens inside
    /// qemu, the host reaches it through a forwarded port). Reported in the service row
    /// (Get-BlockVolumeService's MetricsUrl) instead of Url. Empty, the default: Url is reported.
    /// </summary>
    public string AdvertisedUrl { get; set; } = "";
}
