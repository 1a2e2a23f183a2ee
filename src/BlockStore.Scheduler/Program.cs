using BlockStore.Core;
using BlockStore.Data;
using BlockStore.Hosting;
using BlockStore.Scheduler;
using Microsoft.Extensions.Options;

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
builder.AddBlockStoreService(
    sp =>
    {
        var o = sp.GetRequiredService<IOptions<SchedulerOptions>>().Value;
        return new ServiceIdentity(o.HostName, ServiceType.Scheduler, o.Zone);
    },
    new WakeChannels([Channels.Schedule], (_, _) => true));
builder.Services.AddSingleton<SchedulerQueue>();
builder.Services.AddHostedService<PlacementWorker>();
await builder.Build().RunAsync();
return 0;
