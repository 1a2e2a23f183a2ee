using BlockStore.Agent;
using BlockStore.Core;
using BlockStore.Data;
using Microsoft.Extensions.Options;

namespace BlockStore.Bench;

/// <summary>
/// One SIMULATED volume host: the agent's own code paths (ServiceRegistry registration and
/// heartbeat, CapacityReporter, AgentQueue claim/complete, VolumeBackend over LvmClient) with
/// <see cref="SimulatedLvmRunner"/> in place of LVM. Its loop is the agent's loop cut to what a
/// create/delete needs (no iSCSI, no reconcile pass, no lease renewal: simulated LVM takes
/// microseconds). Woken by the shared listener, as the agent is by its own.
/// </summary>
public sealed class SimulatedHost
{
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly AgentQueue _queue;
    private readonly ServiceRegistry _registry;
    private readonly VolumeBackend _backend;
    private readonly CapacityReporter _reporter;
    private readonly string _owner;

    public SimulatedHost(string name, string zone, decimal vgGiB, StoreConnection store)
    {
        Name = name;
        Zone = zone;
        Lvm = new SimulatedLvmRunner($"vg-{name}", vgGiB);
        var options = new AgentOptions { HostName = name, Zone = zone, VolumeGroup = $"vg-{name}", BackendType = BackendType.Thick, LvmActivation = false };
        var lvm = new LvmClient(Lvm, activation: false);
        _backend = new VolumeBackend(lvm, options);
        _reporter = new CapacityReporter(lvm, Options.Create(options));
        _queue = new AgentQueue(store, name);
        _registry = new ServiceRegistry(store);
        _owner = $"{name}/{Environment.ProcessId}";
    }

    public string Name { get; }

    public string Zone { get; }

    public SimulatedLvmRunner Lvm { get; }

    /// <summary>When each volume's operation was claimed (all hosts), for NOTIFY -> claim.</summary>
    public static readonly System.Collections.Concurrent.ConcurrentDictionary<Guid, DateTime> ClaimedAt = new();

    /// <summary>
    /// Per volume, from the notification reaching this process (the shared listener's event) to
    /// the claim returning, in ms: the agent's own share of NOTIFY -> claim. Only claims made on a
    /// wake-up are timed, not those of the fallback poll.
    /// </summary>
    public static readonly System.Collections.Concurrent.ConcurrentDictionary<Guid, double> NotifiedToClaimMs = new();

    public long Claimed;
    public long Completed;

    // When the last notification for this host arrived (Stopwatch ticks; 0: none since the last claim).
    private long _notifiedAt;

    public void Wake()
    {
        Interlocked.CompareExchange(ref _notifiedAt, System.Diagnostics.Stopwatch.GetTimestamp(), 0);
        try
        {
            _wake.Release();
        }
        catch (SemaphoreFullException)
        {
            // already woken
        }
    }

    public Task RegisterAsync(CancellationToken ct) => _registry.RegisterAsync(Name, ServiceType.Volume, Zone, "simulated", ct);

    public async Task HeartbeatAsync(CancellationToken ct) =>
        await _registry.HeartbeatAsync(Name, ServiceType.Volume, await _reporter.ReportAsync(ct), ct);

    /// <summary>Claims and runs this host's operations whenever woken (or every poll interval).</summary>
    public async Task RunAsync(TimeSpan poll, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await _wake.WaitAsync(poll, ct);
                while (true)
                {
                    var notifiedAt = Interlocked.Exchange(ref _notifiedAt, 0);
                    var claimed = await _queue.ClaimAsync(_owner, TimeSpan.FromSeconds(30), 8, ct);
                    if (claimed.Count == 0)
                    {
                        break;
                    }

                    var now = DateTime.UtcNow;
                    foreach (var op in claimed)
                    {
                        ClaimedAt[op.VolumeId] = now;
                        if (notifiedAt != 0)
                        {
                            NotifiedToClaimMs[op.VolumeId] = System.Diagnostics.Stopwatch.GetElapsedTime(notifiedAt).TotalMilliseconds;
                        }
                    }

                    Interlocked.Add(ref Claimed, claimed.Count);
                    foreach (var op in claimed)
                    {
                        string? error = null;
                        string? note = null;
                        try
                        {
                            note = op.Kind == OperationKind.Create
                                ? await _backend.EnsureCreatedAsync(op.VolumeId, op.SizeGiB, ct)
                                : await _backend.EnsureDeletedAsync(op.VolumeId, ct);
                        }
                        catch (LvmException e)
                        {
                            error = e.Message;
                        }

                        await _queue.CompleteAsync(_owner, op, error, note, ct);
                        Interlocked.Increment(ref Completed);
                    }
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                Console.Error.WriteLine($"{Name}: {e.Message}");
                await Task.Delay(500, CancellationToken.None);
            }
        }
    }
}
