using BlockStore.Core;
using BlockStore.Data;
using BlockStore.Hosting;
using BlockStore.Scheduler;
using Microsoft.Extensions.Options;
using Quartz;

// "migrate": apply schema migrations and exit (used by build.ps1 Up and deployments).
if (args.Length > 0 && args[0] == "migrate")
{
    var config = new ConfigurationBuilder().AddEnvironmentVariables().AddCommandLine(args[1..]).Build();
    var cs = config["BlockStore:ConnectionString"];
    if (string.IsNullOrWhiteSpace(cs))
    {
        Console.Error.WriteLine("migrate: pass --BlockStore:ConnectionString=... or set BlockStore__ConnectionString.");
        return 2;
    }

    var applied = SchemaMigrator.Migrate(cs, Console.WriteLine);
    Console.WriteLine(applied.Count == 0 ? "Schema is up to date." : $"Applied {applied.Count} migration(s).");
    return 0;
}

var builder = Host.CreateApplicationBuilder(args);
builder.AddBlockStoreConfigFile(args);
builder.Services.Configure<SchedulerOptions>(builder.Configuration.GetSection("Scheduler"));
// Which requests this scheduler answers at once and which it leaves to another first (FirstResponder);
// the placement worker tells it who this scheduler is and which others run.
var wakeups = new SchedulerWakeups();
builder.Services.AddSingleton(wakeups);
builder.AddBlockStoreService(
    sp =>
    {
        var o = sp.GetRequiredService<IOptions<SchedulerOptions>>().Value;
        return new ServiceIdentity(o.HostName, ServiceType.Scheduler, o.Zone);
    },
    new WakeChannels([Channels.Schedule], (_, payload) => wakeups.Accept(payload)),
    q =>
    {
        // The queue-depth gauge's counts, refreshed as often as the heartbeat (not per scrape).
        var depth = new JobKey("queue-depth");
        var every = TimeSpan.FromSeconds(Math.Max(1, builder.Configuration.GetValue("BlockStore:ReportIntervalSeconds", 10)));
        q.AddJob<QueueDepthJob>(j => j.WithIdentity(depth));
        q.AddTrigger(t => t.ForJob(depth).StartNow().WithSimpleSchedule(s => s.WithInterval(every).RepeatForever()));
    });
builder.Services.AddSingleton(sp =>
{
    var o = sp.GetRequiredService<IOptions<SchedulerOptions>>().Value;
    var store = sp.GetRequiredService<StoreConnection>();
    return new SchedulerQueue(store)
    {
        // Placement keeps one warm session of its own, which plans each statement once
        // (StoreConnection.Lane says why).
        PlacementStore = store.Lane("placement", genericPlans: true),
        HostCacheMaxAge = TimeSpan.FromSeconds(Math.Max(0, o.HostCacheSeconds)),
        Spread = o.SpreadTies ? PlacementSpread.For(o.HostName, (decimal)Math.Max(0, o.SpreadBandPercent)) : null,
    };
});
builder.Services.AddSingleton<SchedulerMetrics>();
builder.Services.AddHostedService<PlacementWorker>();
await builder.Build().RunAsync();
return 0;
