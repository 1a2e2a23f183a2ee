using System.Diagnostics.Metrics;
using System.Net;
using System.Text;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Prometheus;

namespace BlockStore.Hosting;

/// <summary>
/// Serves GET /metrics (Prometheus text, every System.Diagnostics.Metrics meter of the process
/// through prometheus-net's MeterAdapter: ours, Npgsql's, the runtime's) and GET /healthz (HostHealth
/// as JSON, 200 or 503) on one HttpListener at BlockStore:Metrics:Url. One small listener of our
/// own, because prometheus-net's MetricServer (and OpenTelemetry's HttpListener exporter) serve the
/// metrics path only. Does nothing when the URL is empty.
/// </summary>
public sealed class MetricsServer(IOptions<BlockStoreOptions> options, HostHealth health, ServiceIdentity identity, ILogger<MetricsServer> logger)
    : BackgroundService
{
    private HttpListener? _listener;

    /// <summary>The listener prefix, normalised to end in '/'; null when metrics are off.</summary>
    public static string? PrefixOf(BlockStoreOptions o) =>
        string.IsNullOrWhiteSpace(o.Metrics.Url) ? null : o.Metrics.Url.Trim().TrimEnd('/') + "/";

    /// <summary>
    /// Where scrapers find /metrics, for the service row: the advertised URL when one is set (a
    /// port forward or NAT in between), else the listener's own; null when metrics are off.
    /// </summary>
    public static string? AdvertisedMetricsUrlOf(BlockStoreOptions o) =>
        PrefixOf(o) is null ? null
        : (string.IsNullOrWhiteSpace(o.Metrics.AdvertisedUrl) ? PrefixOf(o) : o.Metrics.AdvertisedUrl.Trim().TrimEnd('/') + "/") + "metrics";

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        var prefix = PrefixOf(options.Value);
        if (prefix is null)
        {
            return Task.CompletedTask;
        }

        StartMeterAdapter();
        RegisterHostGauges(health);
        _listener = new HttpListener();
        _listener.Prefixes.Add(prefix);
        // Started here, not in ExecuteAsync: a port already taken fails the host at start, with the reason.
        _listener.Start();
        logger.LogInformation("Serving metrics at {Prefix}metrics and health at {Prefix}healthz", prefix, prefix);
        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        var listener = _listener!;
        using var stop = ct.Register(listener.Stop);
        while (!ct.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return; // stopped
            }

            // One request at a time is plenty for a scraper every few seconds, and bounds the cost.
            try
            {
                await ServeAsync(context, ct);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogDebug("Metrics request failed: {Message}", e.Message);
            }
            finally
            {
                context.Response.Close();
            }
        }
    }

    private async Task ServeAsync(HttpListenerContext context, CancellationToken ct)
    {
        var path = context.Request.Url?.AbsolutePath.TrimEnd('/') ?? "";
        var response = context.Response;
        if (path.EndsWith("/metrics", StringComparison.Ordinal))
        {
            response.StatusCode = 200;
            response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await Metrics.DefaultRegistry.CollectAndExportAsTextAsync(response.OutputStream, ct);
        }
        else if (path.EndsWith("/healthz", StringComparison.Ordinal))
        {
            var (healthy, json) = health.Report(identity.Host, identity.Service);
            response.StatusCode = healthy ? 200 : 503;
            response.ContentType = "application/json; charset=utf-8";
            var bytes = Encoding.UTF8.GetBytes(json);
            await response.OutputStream.WriteAsync(bytes, ct);
        }
        else
        {
            response.StatusCode = 404;
        }
    }

    private static int _adapterStarted;

    /// <summary>
    /// Starts prometheus-net's default metrics (its MeterAdapter among them) now rather than at the
    /// first scrape, so nothing counted before the first scrape is lost; with our latency buckets, and
    /// series kept for a day, the longest the adapter allows (it drops series idle for 5 minutes by
    /// default, and a failure counter that disappears between two rare failures makes increase()
    /// miss the second one; after a day idle it restarts at 0, which rate() takes as a reset).
    /// </summary>
    private static void StartMeterAdapter()
    {
        if (Interlocked.Exchange(ref _adapterStarted, 1) == 1)
        {
            return;
        }

        Metrics.ConfigureMeterAdapter(o =>
        {
            o.ResolveHistogramBuckets = _ => BlockStoreMetrics.LatencyBuckets;
            o.MetricsExpireAfter = TimeSpan.FromDays(1);
        });
        Metrics.DefaultRegistry.CollectAndExportAsTextAsync(Stream.Null).GetAwaiter().GetResult();
    }

    /// <summary>Gauges read from HostHealth at each scrape: the heartbeat, and an agent's capacity.</summary>
    private static void RegisterHostGauges(HostHealth health)
    {
        var m = BlockStoreMetrics.Meter;
        m.CreateObservableGauge("heartbeat_last_success_timestamp_seconds",
            () => health.LastHeartbeatSuccess is { } at ? [new Measurement<double>(at.ToUnixTimeMilliseconds() / 1000.0)] : Array.Empty<Measurement<double>>(),
            description: "Unix time of the last heartbeat that reached the database.");
        m.CreateObservableGauge("heartbeat_age_seconds",
            () => health.HeartbeatAgeSeconds is { } age ? [new Measurement<double>(age)] : Array.Empty<Measurement<double>>(),
            description: "Seconds since the last heartbeat that reached the database.");
        m.CreateObservableGauge("capacity_total_gib",
            () => health.LastReport is { } r ? [new Measurement<double>((double)r.TotalGiB)] : Array.Empty<Measurement<double>>(),
            description: "Size of the agent's volume group (or thin pool) in GiB, from its last capacity report.");
        m.CreateObservableGauge("capacity_free_gib",
            () => health.LastReport is { } r ? [new Measurement<double>((double)r.FreeGiB)] : Array.Empty<Measurement<double>>(),
            description: "Free space of the agent's volume group (or thin pool) in GiB, from its last capacity report.");
        m.CreateObservableGauge("healthy",
            () => health.Checks().Where(c => c.Required).All(c => c.Ok) ? 1 : 0,
            description: "1 when /healthz answers 200, else 0.");
    }
}
