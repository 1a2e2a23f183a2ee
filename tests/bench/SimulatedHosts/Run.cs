using System.Diagnostics;
using System.Globalization;
using BlockStore.Core;
using BlockStore.Data;
using Npgsql;

namespace BlockStore.Bench;

/// <summary>The measurements of the run mode, in order; each returns figures for the report.</summary>
internal static class Run
{
    public static async Task<Dictionary<string, object?>> AllAsync(StoreConnection store, string[] names, string zone, decimal vgGiB, Args opts)
    {
        var results = new Dictionary<string, object?>();
        var requests = int.Parse(opts.Get("requests", "20000"), CultureInfo.InvariantCulture);
        var heartbeatSeconds = int.Parse(opts.Get("heartbeat-seconds", "10"), CultureInfo.InvariantCulture);
        var window = int.Parse(opts.Get("window-seconds", "30"), CultureInfo.InvariantCulture);
        using var stop = new CancellationTokenSource();

        var hosts = names.Select(n => new SimulatedHost(n, zone, vgGiB, store)).ToDictionary(h => h.Name);
        foreach (var chunk in hosts.Values.Chunk(50))
        {
            await Task.WhenAll(chunk.Select(h => h.RegisterAsync(stop.Token)));
        }

        // One listener for all simulated hosts (1,000 agents would hold 1,000 LISTEN connections).
        var listener = new NotificationListener(store, [Channels.Agent]);
        listener.Notified += (_, payload) =>
        {
            if (hosts.TryGetValue(payload, out var h))
            {
                h.Wake();
            }
        };
        var listening = listener.RunAsync(stop.Token);

        var pg = await PostgresCpu.FindAsync(store);
        results["postgres_pid"] = pg.Postmaster;

        // 1. Heartbeats + capacity reports of all hosts, spread over the interval as real hosts are.
        var heartbeating = new CancellationTokenSource();
        var beats = 0L;
        async Task HeartbeatLoop(SimulatedHost h, int offsetMs)
        {
            try
            {
                await Task.Delay(offsetMs, heartbeating.Token);
                while (!heartbeating.IsCancellationRequested)
                {
                    await h.HeartbeatAsync(heartbeating.Token);
                    Interlocked.Increment(ref beats);
                    await Task.Delay(TimeSpan.FromSeconds(heartbeatSeconds), heartbeating.Token);
                }
            }
            catch (OperationCanceledException)
            {
            }
            catch (Exception e)
            {
                Console.Error.WriteLine($"{h.Name} heartbeat: {e.Message}");
            }
        }

        // Baseline: PostgreSQL with the lab's own hosts only, then with 1,000 simulated hosts reporting.
        var idle = await pg.MeasureAsync(TimeSpan.FromSeconds(window));
        var i = 0;
        var heartbeatTasks = hosts.Values.Select(h => HeartbeatLoop(h, (i++ * heartbeatSeconds * 1000) / names.Length)).ToList();
        await Task.Delay(TimeSpan.FromSeconds(heartbeatSeconds)); // every host has reported once
        var beatsBefore = Interlocked.Read(ref beats);
        var busy = await pg.MeasureAsync(TimeSpan.FromSeconds(window));
        results["heartbeat_interval_s"] = heartbeatSeconds;
        results["heartbeats_per_s"] = (Interlocked.Read(ref beats) - beatsBefore) / (double)window;
        results["pg_core_pct_idle"] = idle;
        results["pg_core_pct_heartbeats"] = busy;
        Console.WriteLine($"heartbeats: PostgreSQL {busy:0.0}% of a core with {names.Length} hosts, {idle:0.0}% without");

        // 2. Placement rate, one scheduler then two. Simulated hosts keep heartbeating; their claim
        // loops are not running yet, so the scheduler's rate is measured alone (agents add their own load).
        // The lab runs two real scheduler processes (scheduler1, scheduler2): one alone first (the
        // other disabled, so it claims nothing), then both.
        var labSchedulers = opts.Get("schedulers", "scheduler1,scheduler2").Split(',', StringSplitOptions.RemoveEmptyEntries);
        var schedulerPids = opts.Get("scheduler-pids", "").Split(',', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToArray();
        var schedulers = await Sql.DoublesAsync(store, "SELECT 1 FROM bs.services WHERE service = 'scheduler'");
        // Where the CPU went while they placed (the profile of the two-scheduler row): the machine's
        // cores, PostgreSQL, each scheduler process and this harness (its hosts keep heartbeating).
        var cpu = new CpuWindow(pg, schedulerPids);
        var (rate1, elapsed1, _) = await PlacementRateAsync(store, zone, requests, labSchedulers[..1], labSchedulers, cpu);
        results["placements_per_s_1"] = rate1;
        results["placement_cpu_1"] = cpu.Result;
        results["placements_elapsed_s_1"] = elapsed1;
        Console.WriteLine($"one scheduler: {requests} placements in {elapsed1:0.00} s = {rate1:0}/s");

        // Bare baseline: the same writes (operation, volume, event) for the same number of requests as
        // one set-based statement, with a host picked round-robin: PostgreSQL's floor for placement.
        results["bare_placements_per_s"] = await BarePlacementRateAsync(store, zone, requests, names, labSchedulers);

        if (labSchedulers.Length > 1)
        {
            var cpu2 = new CpuWindow(pg, schedulerPids);
            var (rate2, elapsed2, bySecond) = await PlacementRateAsync(store, zone, requests, labSchedulers, labSchedulers, cpu2);
            results["placements_per_s_2"] = rate2;
            results["placement_cpu_2"] = cpu2.Result;
            results["placements_elapsed_s_2"] = elapsed2;
            results["placements_by_scheduler_2"] = bySecond;
            Console.WriteLine($"two schedulers: {requests} placements in {elapsed2:0.00} s = {rate2:0}/s ({bySecond} by {labSchedulers[1]})");
        }

        results["scheduler1_rss_mb"] = schedulerPids.Length > 0 ? Rss.Of(schedulerPids[0]) : 0;
        results["scheduler2_rss_mb"] = schedulerPids.Length > 1 ? Rss.Of(schedulerPids[1]) : 0;

        // 3. The simulated agents run everything placed (creates) and we check the ledger end to end.
        var running = hosts.Values.Select(h => h.RunAsync(TimeSpan.FromSeconds(30), stop.Token)).ToList();
        foreach (var h in hosts.Values)
        {
            h.Wake();
        }

        await WaitAsync(async () => await Sql.ScalarAsync<int>(store,
            "SELECT count(*) FROM bs.operations o JOIN bs.volumes v ON v.id = o.volume_id WHERE v.zone = @z AND o.stage IN ('pending', 'scheduled', 'running')",
            ("z", zone)) == 0, TimeSpan.FromSeconds(900));
        results["simulated_lvm_commands"] = hosts.Values.Sum(h => h.Lvm.Commands);
        results["overcommitted_hosts"] = await Sql.ScalarAsync<int>(store,
            "SELECT count(*) FROM bs.capacity_ledger l JOIN bs.services s ON s.host = l.host AND s.service = 'volume' " +
            "WHERE s.backend_type = 'thick' AND l.provisioned_gib > s.total_gib");
        results["ledger_drift_hosts"] = await Sql.ScalarAsync<int>(store, "SELECT count(*) FROM bs.capacity_ledger_drift");

        // 4. NOTIFY -> claim: requests one by one (the product's request path), timed on the database clock.
        results["notify_to_claim"] = await NotifyToClaimAsync(store, zone, int.Parse(opts.Get("trickle", "200"), CultureInfo.InvariantCulture), SimulatedHost.ClaimedAt);
        results["bare_notify_roundtrip"] = await BareNotifyAsync(store, int.Parse(opts.Get("trickle", "200"), CultureInfo.InvariantCulture));

        await heartbeating.CancelAsync();
        await stop.CancelAsync();
        await Task.WhenAll(heartbeatTasks);
        await Task.WhenAll(running);
        await listening;
        results["schedulers_before"] = schedulers.Count;
        return results;
    }

    /// <summary>
    /// With the schedulers disabled, queue <paramref name="count"/> create requests (zone <paramref name="zone"/>),
    /// enable them, and take the time from the enable to the last 'scheduled' event on the database clock.
    /// </summary>
    public static async Task<(double Rate, double Seconds, int BySecond)> PlacementRateAsync(StoreConnection store, string zone, int count, string[] schedulers, string[] all,
        CpuWindow? cpu = null)
    {
        await Sql.ExecAsync(store, "UPDATE bs.services SET disabled = true WHERE service = 'scheduler' AND host = ANY(@s)", ("s", all));
        // A batch running now finishes first (the flag is read under FOR SHARE at each batch).
        await Task.Delay(2000);
        var tag = "rate" + Guid.NewGuid().ToString("N")[..6];
        var firstOp = await Sql.ScalarAsync<long>(store, "SELECT coalesce(max(id), 0) + 1 FROM bs.operations");
        await Sql.ExecAsync(store,
            "WITH v AS (INSERT INTO bs.volumes (id, name, size_gib, status, zone) " +
            "  SELECT gen_random_uuid(), @t || '-' || i, 1, 'creating', @z FROM generate_series(1, @n) i RETURNING id, name), " +
            "o AS (INSERT INTO bs.operations (volume_id, kind, stage) SELECT id, 'create', 'pending' FROM v ORDER BY name) " +
            "INSERT INTO bs.events (volume_id, kind, message) SELECT id, 'requested', 'create of 1 GiB requested' FROM v",
            ("t", tag), ("z", zone), ("n", count));
        var lastOp = await Sql.ScalarAsync<long>(store, "SELECT max(id) FROM bs.operations");
        await Sql.ExecAsync(store, "ANALYZE bs.operations");
        var start = await Sql.ScalarAsync<DateTime>(store, "SELECT clock_timestamp()");
        cpu?.Start();
        await EnableSchedulersAsync(store, schedulers);
        // Polled every 100 ms while the schedulers are measured, so it must cost next to nothing: a
        // range of the pending index (the requests' operation ids). It was a join on the volumes'
        // names (LIKE 'rate…-%'): a parallel sequential scan of every volume, about 0.2 CPU-s per
        // poll at 744,000 volumes (in proportion at the full run's 100,000+), taken from the
        // schedulers and PostgreSQL being measured on 2 cores (a profile of one and two schedulers,
        // 2026-12-05, docs/benchmarks.md).
        await WaitAsync(async () => !await Sql.ScalarAsync<bool>(store,
            "SELECT EXISTS (SELECT 1 FROM bs.operations WHERE stage = 'pending' AND id BETWEEN @lo AND @hi)",
            ("lo", firstOp), ("hi", lastOp)), TimeSpan.FromSeconds(900));
        cpu?.Stop();
        var seconds = await Sql.ScalarAsync<double>(store,
            "SELECT extract(epoch FROM max(e.at) - @start) FROM bs.events e JOIN bs.volumes v ON v.id = e.volume_id " +
            "WHERE v.name LIKE @t || '-%' AND e.kind IN ('scheduled', 'error')", ("t", tag), ("start", start));
        var failed = await Sql.ScalarAsync<int>(store, "SELECT count(*) FROM bs.volumes WHERE name LIKE @t || '-%' AND status = 'error'", ("t", tag));
        if (failed > 0)
        {
            Console.Error.WriteLine($"{failed} of {count} requests failed placement");
        }

        var bySecond = all.Length > 1
            ? await Sql.ScalarAsync<int>(store,
                "SELECT count(*) FROM bs.events e JOIN bs.volumes v ON v.id = e.volume_id " +
                "WHERE v.name LIKE @t || '-%' AND e.kind = 'scheduled' AND e.message LIKE '% by ' || @s || ' %'", ("t", tag), ("s", all[1]))
            : 0;
        return (count / seconds, seconds, bySecond);
    }

    private static async Task<double> BarePlacementRateAsync(StoreConnection store, string zone, int count, string[] hosts, string[] schedulers)
    {
        await Sql.ExecAsync(store, "UPDATE bs.services SET disabled = true WHERE service = 'scheduler'");
        await Task.Delay(2000);
        var tag = "bare" + Guid.NewGuid().ToString("N")[..6];
        await Sql.ExecAsync(store,
            "WITH v AS (INSERT INTO bs.volumes (id, name, size_gib, status, zone) " +
            "  SELECT gen_random_uuid(), @t || '-' || i, 1, 'creating', @z FROM generate_series(1, @n) i RETURNING id, name) " +
            "INSERT INTO bs.operations (volume_id, kind, stage) SELECT id, 'create', 'pending' FROM v ORDER BY name",
            ("t", tag), ("z", zone), ("n", count));
        var sw = Stopwatch.StartNew();
        await Sql.ExecAsync(store,
            "WITH p AS (SELECT o.id AS op, o.volume_id AS vol, @hosts[1 + (row_number() OVER (ORDER BY o.id))::int % cardinality(@hosts)] AS host " +
            "  FROM bs.operations o JOIN bs.volumes v ON v.id = o.volume_id WHERE o.stage = 'pending' AND v.name LIKE @t || '-%'), " +
            "o AS (UPDATE bs.operations o SET stage = 'scheduled', host = p.host, updated_at = now() FROM p WHERE o.id = p.op), " +
            "v AS (UPDATE bs.volumes v SET host = p.host, updated_at = now() FROM p WHERE v.id = p.vol) " +
            "INSERT INTO bs.events (volume_id, host, service, kind, message) SELECT p.vol, p.host, 'scheduler', 'scheduled', 'bare' FROM p",
            ("t", tag), ("hosts", hosts));
        var seconds = sw.Elapsed.TotalSeconds;
        await EnableSchedulersAsync(store, schedulers);
        return count / seconds;
    }

    /// <summary>Enables the schedulers and wakes them as Enable-BlockVolumeService does (bs_control), plus a bs_schedule hint.</summary>
    private static Task<int> EnableSchedulersAsync(StoreConnection store, string[] schedulers) =>
        Sql.ExecAsync(store,
            "UPDATE bs.services SET disabled = false WHERE service = 'scheduler' AND host = ANY(@s); " +
            "SELECT pg_notify('bs_control', h || '/scheduler') FROM unnest(@s) h; SELECT pg_notify('bs_schedule', '0')",
            ("s", schedulers));

    /// <summary>
    /// Requests volumes one at a time through the product's request path (VolumeRequests.CreateAsync)
    /// while the schedulers and simulated agents run; per request, on the database clock: request
    /// committed -> 'scheduled' event (scheduler woken by NOTIFY, placed) and 'scheduled' -> the
    /// agent's claim returning (woken by NOTIFY on bs_agent, claimed).
    /// </summary>
    private static async Task<Dictionary<string, double>> NotifyToClaimAsync(StoreConnection store, string zone, int count,
        System.Collections.Concurrent.ConcurrentDictionary<Guid, DateTime> claimedAt)
    {
        var volumes = new VolumeRequests(store);
        var tag = "trickle" + Guid.NewGuid().ToString("N")[..6];
        for (var n = 0; n < count; n++)
        {
            await volumes.CreateAsync($"{tag}-{n}", 1, zone, null);
            await Task.Delay(20);
        }

        await WaitAsync(async () => await Sql.ScalarAsync<int>(store,
            "SELECT count(*) FROM bs.volumes WHERE name LIKE @t || '-%' AND status = 'creating'", ("t", tag)) == 0, TimeSpan.FromSeconds(300));
        var toPlaced = await Sql.DoublesAsync(store,
            "SELECT extract(epoch FROM s.at - r.at) * 1000 FROM bs.volumes v " +
            "JOIN bs.events r ON r.volume_id = v.id AND r.kind = 'requested' JOIN bs.events s ON s.volume_id = v.id AND s.kind = 'scheduled' " +
            "WHERE v.name LIKE @t || '-%'", ("t", tag));
        // The claim time is taken by the simulated agent when its claim returns (same machine clock).
        // The 'scheduled' event's time is the scheduler's transaction start (now()): scheduled ->
        // claim also holds the rest of that transaction (placing, writing, committing), before the
        // NOTIFY is even sent, which is at commit. Notified -> claim is the agent's own part (its
        // process received the notification -> its claim returned), to which the bare delivery of
        // a NOTIFY (BareNotifyAsync, same run) adds the way from the commit to the agent.
        var notifiedToClaim = new List<double>();
        var toClaim = new List<double>();
        await using (var conn = await store.OpenAsync(CancellationToken.None))
        {
            await using var cmd = new NpgsqlCommand(
                "SELECT v.id, s.at FROM bs.volumes v JOIN bs.events s ON s.volume_id = v.id AND s.kind = 'scheduled' WHERE v.name LIKE @t || '-%'", conn);
            cmd.Parameters.AddWithValue("t", tag);
            await using var r = await cmd.ExecuteReaderAsync();
            while (await r.ReadAsync())
            {
                if (claimedAt.TryGetValue(r.GetGuid(0), out var at))
                {
                    toClaim.Add((at - r.GetDateTime(1)).TotalMilliseconds);
                }

                if (SimulatedHost.NotifiedToClaimMs.TryGetValue(r.GetGuid(0), out var ms))
                {
                    notifiedToClaim.Add(ms);
                }
            }
        }
        return new Dictionary<string, double>
        {
            ["requests"] = count,
            ["request_to_placed_p50_ms"] = Percentile(toPlaced, 50),
            ["request_to_placed_p95_ms"] = Percentile(toPlaced, 95),
            ["notify_to_claim_p50_ms"] = Percentile(toClaim, 50),
            ["notify_to_claim_p95_ms"] = Percentile(toClaim, 95),
            ["claims_timed"] = toClaim.Count,
            ["notified_to_claim_p50_ms"] = Percentile(notifiedToClaim, 50),
            ["notified_to_claim_p95_ms"] = Percentile(notifiedToClaim, 95),
            ["notified_claims_timed"] = notifiedToClaim.Count,
        };
    }

    /// <summary>
    /// The floor of NOTIFY -> claim in the same run: a NOTIFY committed on one connection, seen by a
    /// LISTEN connection in this process (the same listener class the agents use), then one bare
    /// round trip (SELECT 1 on a pooled connection) as the claim's stand-in; p50/p95 in ms.
    /// </summary>
    private static async Task<Dictionary<string, double>> BareNotifyAsync(StoreConnection store, int count)
    {
        using var stop = new CancellationTokenSource();
        var listener = new NotificationListener(store, ["bs_bench"]);
        var seen = new System.Collections.Concurrent.ConcurrentDictionary<int, long>();
        listener.Notified += (_, payload) => seen[int.Parse(payload, CultureInfo.InvariantCulture)] = Stopwatch.GetTimestamp();
        var listening = listener.RunAsync(stop.Token);
        await Task.Delay(1000);
        var notifyMs = new List<double>();
        var withTripMs = new List<double>();
        for (var n = 0; n < count; n++)
        {
            var sent = Stopwatch.GetTimestamp();
            await Sql.ExecAsync(store, "SELECT pg_notify('bs_bench', @p)", ("p", n.ToString(CultureInfo.InvariantCulture)));
            var deadline = DateTime.UtcNow.AddSeconds(5);
            while (!seen.ContainsKey(n) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(1);
            }

            if (seen.TryGetValue(n, out var at))
            {
                notifyMs.Add(Stopwatch.GetElapsedTime(sent, at).TotalMilliseconds);
                await Sql.ScalarAsync<int>(store, "SELECT 1");
                withTripMs.Add(Stopwatch.GetElapsedTime(sent).TotalMilliseconds);
            }

            await Task.Delay(20);
        }

        await stop.CancelAsync();
        try
        {
            await listening;
        }
        catch (OperationCanceledException)
        {
        }

        return new Dictionary<string, double>
        {
            ["notify_p50_ms"] = Percentile(notifyMs, 50),
            ["notify_p95_ms"] = Percentile(notifyMs, 95),
            ["notify_plus_roundtrip_p50_ms"] = Percentile(withTripMs, 50),
        };
    }

    private static double Percentile(List<double> values, int p)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        values.Sort();
        return Math.Round(values[Math.Min(values.Count - 1, (int)Math.Ceiling(p / 100.0 * values.Count) - 1)], 2);
    }

    public static async Task WaitAsync(Func<Task<bool>> done, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await done())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"not done within {timeout.TotalSeconds} s");
            }

            await Task.Delay(100);
        }
    }
}

/// <summary>CPU of the lab's PostgreSQL (the postmaster and every child) from /proc, as % of one core.</summary>
internal sealed class PostgresCpu(int postmaster)
{
    public int Postmaster { get; } = postmaster;

    public static async Task<PostgresCpu> FindAsync(StoreConnection store)
    {
        var backend = await Sql.ScalarAsync<int>(store, "SELECT pg_backend_pid()");
        var f = ProcStat.Fields(backend) ?? throw new InvalidOperationException($"backend {backend} has no /proc entry");
        return new PostgresCpu(int.Parse(f[1], CultureInfo.InvariantCulture));
    }

    /// <summary>Clock ticks (user + system) of the postmaster, its live children and its exited (reaped) children now.</summary>
    public long Ticks()
    {
        long total = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            var name = Path.GetFileName(dir);
            if (!int.TryParse(name, out var pid))
            {
                continue;
            }

            if (ProcStat.Fields(pid) is not { } f)
            {
                continue; // exited meanwhile
            }

            if (pid == Postmaster || int.Parse(f[1], CultureInfo.InvariantCulture) == Postmaster)
            {
                total += ProcStat.OwnTicks(f);
            }

            if (pid == Postmaster)
            {
                // Backends that exited (pooled connections closed) were reaped by the postmaster:
                // their CPU moved into its cutime/cstime. Without these the sum can go down.
                total += ProcStat.ReapedTicks(f);
            }
        }

        return total;
    }

    /// <summary>Percent of one core PostgreSQL used over <paramref name="window"/>.</summary>
    public async Task<double> MeasureAsync(TimeSpan window)
    {
        var before = Ticks();
        var sw = Stopwatch.StartNew();
        await Task.Delay(window);
        return ProcStat.CorePercent(Ticks() - before, sw.Elapsed.TotalSeconds, 2);
    }
}

/// <summary>
/// CPU over a window, from /proc, each as % of one core: the whole machine (busy = all but idle and
/// iowait, summed over its cores, so 2 cores saturated read 200 %), PostgreSQL (postmaster and
/// children), each given process and this harness. A profile, not a timing: it says whether the
/// cores were the bound while the schedulers placed.
/// </summary>
internal sealed class CpuWindow(PostgresCpu pg, int[] pids)
{
    private long _machine, _pg, _self;
    private long[] _pids = [];
    private Stopwatch _clock = new();

    public Dictionary<string, double> Result { get; } = [];

    public void Start()
    {
        _machine = MachineBusyTicks();
        _pg = pg.Ticks();
        _pids = pids.Select(ProcessTicks).ToArray();
        _self = ProcessTicks(Environment.ProcessId);
        _clock = Stopwatch.StartNew();
    }

    public void Stop()
    {
        var seconds = _clock.Elapsed.TotalSeconds;
        double Pct(long ticks) => ProcStat.CorePercent(ticks, seconds, 1);
        Result["cores"] = Environment.ProcessorCount;
        Result["machine_busy_pct"] = Pct(MachineBusyTicks() - _machine);
        Result["postgres_pct"] = Pct(pg.Ticks() - _pg);
        for (var i = 0; i < pids.Length; i++)
        {
            Result[$"scheduler{i + 1}_pct"] = Pct(ProcessTicks(pids[i]) - _pids[i]);
        }

        Result["harness_pct"] = Pct(ProcessTicks(Environment.ProcessId) - _self);
    }

    /// <summary>user + nice + system + irq + softirq + steal of all cores (/proc/stat's first line).</summary>
    private static long MachineBusyTicks()
    {
        var f = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        long Field(int i) => long.Parse(f[i], CultureInfo.InvariantCulture);
        return Field(1) + Field(2) + Field(3) + Field(6) + Field(7) + Field(8);
    }

    private static long ProcessTicks(int pid) => ProcStat.Fields(pid) is { } f ? ProcStat.OwnTicks(f) : 0;
}

/// <summary>/proc/&lt;pid&gt;/stat, read the one way for every CPU figure of the harness.</summary>
internal static class ProcStat
{
    /// <summary>The fields after the command name (which may hold spaces): [1] ppid, [11] utime, [12] stime, [13] cutime, [14] cstime; null when the process is gone.</summary>
    public static string[]? Fields(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>The process's own user + system clock ticks.</summary>
    public static long OwnTicks(string[] f) => long.Parse(f[11], CultureInfo.InvariantCulture) + long.Parse(f[12], CultureInfo.InvariantCulture);

    /// <summary>Its waited-for (reaped) children's user + system clock ticks.</summary>
    public static long ReapedTicks(string[] f) => long.Parse(f[13], CultureInfo.InvariantCulture) + long.Parse(f[14], CultureInfo.InvariantCulture);

    /// <summary>Clock ticks over a window as % of one core (USER_HZ = 100).</summary>
    public static double CorePercent(long ticks, double seconds, int digits) => Math.Round(ticks / 100.0 / seconds * 100, digits);
}

internal static class Rss
{
    /// <summary>Resident set size of a process in MB (0 when unknown).</summary>
    public static double Of(int pid)
    {
        if (pid <= 0 || !File.Exists($"/proc/{pid}/status"))
        {
            return 0;
        }

        var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return line is null ? 0 : Math.Round(double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024, 1);
    }
}
