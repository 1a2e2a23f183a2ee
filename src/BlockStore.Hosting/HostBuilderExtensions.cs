using BlockStore.Data;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Quartz;

namespace BlockStore.Hosting;

public static class HostBuilderExtensions
{
    /// <summary>
    /// Wires a BlockStore service process: options, the data layer, live log level, the
    /// registration/control loop, and Quartz (in-memory store) for the periodic passes:
    /// heartbeat and the fallback poll, plus whatever periodic jobs the host adds with <paramref name="jobs"/>.
    /// </summary>
    public static HostApplicationBuilder AddBlockStoreService(this HostApplicationBuilder builder,
        Func<IServiceProvider, ServiceIdentity> identity, WakeChannels wakeChannels, Action<IQuartzBuilder>? jobs = null)
    {
        builder.Services.Configure<BlockStoreOptions>(builder.Configuration.GetSection("BlockStore"));
        var options = builder.Configuration.GetSection("BlockStore").Get<BlockStoreOptions>() ?? new BlockStoreOptions();
        if (string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            throw new InvalidOperationException(
                "No database connection: pass --BlockStore:ConnectionString=... or set BlockStore__ConnectionString.");
        }

        var levelSwitch = new LogLevelSwitch();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        builder.Logging.AddFilter((category, level) =>
            levelSwitch.IsEnabled(level) && (level >= LogLevel.Warning || !category!.StartsWith("Quartz", StringComparison.Ordinal)));
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
            o.UseUtcTimestamp = true;
        });

        // Under systemd (a no-op elsewhere): READY=1 once started and STOPPING=1 (Type=notify), and log
        // lines in journald's format with their priority. After AddSimpleConsole, so its formatter wins there.
        builder.Services.AddSystemd();
        // The notifier outside systemd too: it stays disabled without NOTIFY_SOCKET, and the watchdog
        // then does nothing (AddSystemd registers it only under systemd).
        builder.Services.TryAddSingleton<ISystemdNotifier, SystemdNotifier>();
        builder.Services.AddSingleton<SystemdWatchdog>();

        builder.Services.AddSingleton(levelSwitch);
        builder.Services.AddSingleton(identity);
        builder.Services.AddSingleton(wakeChannels);
        builder.Services.AddSingleton<WorkSignal>();
        // Prepared statements (issue 11): each host runs the same few statements all day, and without
        // them every pooled use starts with DISCARD ALL, so PostgreSQL parsed and planned each
        // statement again (the scheduler's placement write about 1.6 ms per batch). Agents already had
        // them through the connection string Register-BlockVolumeHost writes; now the scheduler too.
        builder.Services.AddSingleton(sp => new StoreConnection(sp.GetRequiredService<IOptions<BlockStoreOptions>>().Value.ConnectionString,
            $"blockstore-{sp.GetRequiredService<ServiceIdentity>().Service}-{sp.GetRequiredService<ServiceIdentity>().Host}", prepareStatements: true));
        builder.Services.AddSingleton<ServiceRegistry>();
        builder.Services.AddSingleton<ServiceRuntime>();
        // /metrics and /healthz (off unless BlockStore:Metrics:Url is set): HostHealth is fed by the heartbeat job.
        builder.Services.AddSingleton(sp => new HostHealth(TimeProvider.System, sp.GetServices<IHealthCheckSource>()));
        builder.Services.AddHostedService<MetricsServer>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ServiceRuntime>());

        builder.Services.AddQuartz(q =>
        {
            q.UseInMemoryStore();
            var heartbeat = new JobKey("heartbeat");
            q.AddJob<HeartbeatJob>(j => j.WithIdentity(heartbeat));
            q.AddTrigger(t => t.ForJob(heartbeat).StartNow()
                .WithSimpleSchedule(s => s.WithInterval(TimeSpan.FromSeconds(Math.Max(1, options.ReportIntervalSeconds))).RepeatForever()));
            var wake = new JobKey("fallback-poll");
            q.AddJob<WakeJob>(j => j.WithIdentity(wake));
            q.AddTrigger(t => t.ForJob(wake).StartNow()
                .WithSimpleSchedule(s => s.WithInterval(TimeSpan.FromSeconds(Math.Max(1, options.PollIntervalSeconds))).RepeatForever()));
            jobs?.Invoke(q);
        });
        builder.Services.AddQuartzHostedService(o => o.WaitForJobsToComplete = true);
        return builder;
    }
}
