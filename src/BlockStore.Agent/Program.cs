using BlockStore.Agent;
using BlockStore.Core;
using BlockStore.Data;
using BlockStore.Hosting;
using Microsoft.Extensions.Options;
using Quartz;

var builder = Host.CreateApplicationBuilder(args);
builder.AddBlockStoreConfigFile(args);
builder.Services.Configure<AgentOptions>(builder.Configuration.GetSection("Agent"));
var agent = builder.Configuration.GetSection("Agent").Get<AgentOptions>() ?? new AgentOptions();

// Refuse a configuration that would fail later, with a message that says what to fix.
Validation.HostName(agent.HostName);
Validation.AvailabilityZone(agent.Zone);
if (string.IsNullOrWhiteSpace(agent.VolumeGroup))
{
    throw new InvalidOperationException("Agent:VolumeGroup is required (the LVM volume group this host serves).");
}

if (!Iscsi.IsValidTargetPrefix(agent.Iscsi.TargetPrefix))
{
    throw new InvalidOperationException($"Agent:Iscsi:TargetPrefix '{agent.Iscsi.TargetPrefix}' must be an iqn name without ':' (e.g. {Iscsi.DefaultTargetPrefix}).");
}

if (agent.BackendType is not (BackendType.Thick or BackendType.Thin))
{
    throw new InvalidOperationException($"Agent:BackendType must be thick or thin, not '{agent.BackendType}'.");
}

if (agent.BackendType == BackendType.Thin && string.IsNullOrWhiteSpace(agent.ThinPool))
{
    throw new InvalidOperationException("Agent:ThinPool is required when Agent:BackendType is thin.");
}

builder.AddBlockStoreService(
    sp =>
    {
        var o = sp.GetRequiredService<IOptions<AgentOptions>>().Value;
        return new ServiceIdentity(o.HostName, ServiceType.Volume, o.Zone);
    },
    // Agent notifications carry the host name: wake only for our own host.
    new WakeChannels([Channels.Agent], (_, payload) => payload == agent.HostName),
    q =>
    {
        // The LV reconcile pass again every interval (the first one runs at start, in AgentWorker).
        var reconcile = new JobKey("lv-reconcile");
        var every = TimeSpan.FromSeconds(Math.Max(5, agent.Reconcile.IntervalSeconds));
        q.AddJob<LvReconcileJob>(j => j.WithIdentity(reconcile));
        q.AddTrigger(t => t.ForJob(reconcile).StartAt(DateTimeOffset.UtcNow + every)
            .WithSimpleSchedule(s => s.WithInterval(every).RepeatForever()));
    });
builder.Services.AddSingleton(agent.Deadlines);
builder.Services.AddSingleton<ICommandRunner, ProcessCommandRunner>();
builder.Services.AddSingleton(sp => new LvmClient(sp.GetRequiredService<ICommandRunner>(), agent.LvmActivation, agent.LvmBinDirectory));
builder.Services.AddSingleton(agent);
builder.Services.AddSingleton(sp => new BlockCopier(sp.GetRequiredService<ICommandRunner>()));
builder.Services.AddSingleton<VolumeBackend>();
// The periodic reconcile reads through the shared pool, so the worker's own (below) stays one session.
builder.Services.AddSingleton<IReconcileStore>(sp => new AgentQueueReconcileStore(new AgentQueue(sp.GetRequiredService<StoreConnection>(), agent.HostName)));
builder.Services.AddSingleton<Reconciler>();
builder.Services.AddSingleton<ICapacityReporter, CapacityReporter>();
builder.Services.AddSingleton(agent.Iscsi);
builder.Services.AddSingleton<ITargetStateReader>(new ConfigFsTargetReader(agent.Iscsi.ConfigFsRoot));
builder.Services.AddSingleton<TargetClient>();
builder.Services.AddSingleton<TargetCapability>();
builder.Services.AddSingleton<IHealthCheckSource, IscsiHealth>();
builder.Services.AddSingleton<VolumeExporter>();
builder.Services.AddSingleton<AttachmentRunner>();
builder.Services.AddSingleton(sp => new AgentAttachments(sp.GetRequiredService<StoreConnection>(), agent.HostName));
builder.Services.AddHostedService<TargetService>();
// The worker's claims, completions and lease renewals keep one warm session of their own
// (StoreConnection.Lane says why): on a request's way between the scheduler and -Wait.
builder.Services.AddSingleton(sp => new AgentQueue(sp.GetRequiredService<StoreConnection>().Lane("operations"), agent.HostName));
builder.Services.AddHostedService<AgentWorker>();
await builder.Build().RunAsync();
