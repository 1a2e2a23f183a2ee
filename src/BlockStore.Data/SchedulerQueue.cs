using BlockStore.Core;
using Npgsql;

namespace BlockStore.Data;

/// <summary>What a pass decided for one operation; RejectionClasses (RejectionClasses.Of) only when it failed.</summary>
public sealed record PlacementOutcome(long OperationId, Guid VolumeId, string? Host, string Reason, IReadOnlyList<string>? RejectionClasses = null);

/// <summary>
/// A batch's decisions, and whether the scheduler's service row said enabled when the batch read it
/// (false also when the row is missing): a disabled scheduler claims nothing, and its worker learns
/// so from the batch itself instead of asking first in a round trip of its own.
/// </summary>
public sealed record PlacementBatch(List<PlacementOutcome> Outcomes, bool SchedulerEnabled);

/// <summary>
/// The scheduler's side of the queue. A pass claims a batch of pending create operations with
/// FOR UPDATE SKIP LOCKED (concurrent schedulers never take the same row), takes the volume hosts
/// and their capacity ledger rows (bs.capacity_ledger, kept by triggers in the same transaction
/// as every assignment and release: no scan of the volumes) from a read of every host or from
/// the copy an earlier pass kept (<see cref="HostCacheMaxAge"/>), places the batch with Core's
/// PlacementPolicy, then locks the ledger rows of only the hosts it chose and re-checks the
/// placement against their values as of the lock. The assignments are written by set-based
/// statements, which move the ledger in the same transaction.
/// </summary>
public sealed class SchedulerQueue(StoreConnection store)
{
    /// <summary>
    /// How long a pass may plan with the hosts as an earlier pass read them (0: read every host in
    /// every pass). Reading and decoding 1,000 hosts costs about 30 ms of scheduler CPU, whatever
    /// the batch holds. The copy is only a guide: every host a plan uses is locked and read again
    /// (its state, capacity and ledger as of the lock) and the batch is placed again with those
    /// values before anything is written; a request that would fail is decided only on a fresh read
    /// of every host (the same reason as without the copy). It is also read afresh at once when the
    /// hosts' state signature (registrations, operator changes, up and healthy counts) moves.
    /// </summary>
    public TimeSpan HostCacheMaxAge { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How old the copy must be before <see cref="RefreshHostCopyAsync"/> reads every host again
    /// (null: half of <see cref="HostCacheMaxAge"/>).
    /// </summary>
    public TimeSpan? HostCopyRefreshAfter { get; init; }

    /// <summary>
    /// Until what age <see cref="RefreshHostCopyAsync"/> still reads a copy again that has expired
    /// (null: three times <see cref="HostCacheMaxAge"/>). With two schedulers, each answers about
    /// every other request first (FirstResponder), so with requests a second apart its copy has
    /// mostly expired when its next one comes, and that request read every host on its way (10 of
    /// 10 placements in a statement log, docs/benchmarks.md). A copy that expired only recently
    /// is read again between requests; an older one is not: with requests that far apart the
    /// read on the way is the only one.
    /// </summary>
    public TimeSpan? HostCopyRefreshUntil { get; init; }

    /// <summary>
    /// This scheduler's own tie-break among (nearly) equally free hosts (Core's PlacementSpread,
    /// seeded by its name), so that two schedulers plan onto different hosts instead of finding
    /// each other's ledger rows locked. Null: ties by host name, as before. Only the choice among
    /// hosts moves: every plan is still locked, read again and placed again before it is written.
    /// </summary>
    public PlacementSpread? Spread { get; init; }

    /// <summary>
    /// Where the placement passes and the refresh of the copy of the hosts run (null: the same pool
    /// as everything else). The scheduler host gives them a pool of their own
    /// (<see cref="StoreConnection.Lane"/>), so they keep one warm PostgreSQL session; the
    /// queue-depth gauge stays on the shared pool.
    /// </summary>
    public StoreConnection? PlacementStore { get; init; }

    private StoreConnection Placement => PlacementStore ?? store;

    // The hosts as of the last read, with this scheduler's own placements since then applied.
    private volatile HostCache? cache;

    /// <summary>When the copy of the hosts was read (Environment.TickCount64), or null without one; for tests.</summary>
    internal long? HostCopyReadAtTicks => cache?.ReadAtTicks;

    private sealed record HostCache(List<HostCandidate> Hosts, string Signature, long ReadAtTicks);

    // Cheap (no decoding in the scheduler): what moves when a host is registered, disabled, enabled,
    // frozen, thawed, goes down or up, or turns unhealthy.
    private const string SignatureSelect =
        "SELECT count(*)::text || '/' || coalesce(max(s.modified_at)::text, '') || '/' || coalesce(max(s.started_at)::text, '') || '/' || " +
        "  count(*) FILTER (WHERE " + ServiceSql.Up + ")::text || '/' || count(*) FILTER (WHERE s.healthy)::text " +
        "FROM bs.services s WHERE s.service = 'volume'";

    // Rounds of "place, lock the hosts chosen, re-place with their values as of the lock" before
    // the batch is placed only on hosts already locked.
    private const int MaxLockRounds = 4;

    // Candidate hosts: the service row (state, capacity report, up from the database clock) and the ledger.
    private const string CandidateSelect =
        "SELECT s.host, s.zone, s.disabled, s.disabled_reason, s.frozen, s.healthy, s.health_reason, " +
        "  coalesce(s.backend_type, 'thick'), coalesce(s.total_gib, 0), coalesce(s.free_gib, 0), s.reserved_percentage, s.max_over_subscription_ratio, " +
        "  " + ServiceSql.Up + " AS up, s.allocated_gib, coalesce(l.provisioned_gib, 0), s.capabilities::text " +
        "FROM bs.services s LEFT JOIN bs.capacity_ledger l ON l.host = s.host WHERE s.service = 'volume'";

    /// <summary>
    /// Reads every host again, outside any pass, once the copy is older than
    /// <see cref="HostCopyRefreshAfter"/> (and younger than <see cref="HostCopyRefreshUntil"/>:
    /// requests are still coming), so that the next request's pass plans with a copy instead
    /// of reading every host on its way: at 1,000 hosts that read was about 7 ms of a request's
    /// placement whenever the copy had expired (3.6 ms in PostgreSQL, 3 ms decoding), which requests
    /// 0.4-0.7 s apart found every second or third time (statement log and side-by-side runs of
    /// 2026-12-05, docs/benchmarks.md). The placement worker calls it
    /// after each drain, so it never runs beside a pass of this scheduler. Before the first pass
    /// there is no copy and nothing is read; an idle scheduler's copy expires and is not read again.
    /// </summary>
    public async Task RefreshHostCopyAsync(CancellationToken ct = default)
    {
        var held = cache;
        var after = HostCopyRefreshAfter ?? HostCacheMaxAge / 2;
        var until = HostCopyRefreshUntil ?? HostCacheMaxAge * 3;
        var age = held is null ? 0 : Environment.TickCount64 - held.ReadAtTicks;
        // A copy that expired long ago is not read again here: requests that far apart read the
        // hosts on their way anyway, and a refresh between them would be one more read of every
        // host per request.
        if (held is null || HostCacheMaxAge <= TimeSpan.Zero || age < (long)after.TotalMilliseconds || age >= (long)until.TotalMilliseconds)
        {
            return;
        }

        var readAt = Environment.TickCount64;
        var (hosts, signature) = await Placement.RunAsync(async conn =>
        {
            // The signature first: a change between the two reads leaves a copy newer than its
            // signature, which the next pass drops; never the reverse.
            await using var sig = new NpgsqlCommand(SignatureSelect, conn);
            var read = (string?)await sig.ExecuteScalarAsync(ct).ConfigureAwait(false);
            return (await ReadCandidatesAsync(conn, null, ct).ConfigureAwait(false), read);
        }, ct).ConfigureAwait(false);
        if (signature is not null)
        {
            cache = new HostCache(hosts, signature, readAt);
        }
    }

    /// <summary>Open operations by stage (pending, scheduled, running), through bs.queue_depth() (0014).</summary>
    public Task<Dictionary<string, long>> QueueDepthAsync(CancellationToken ct = default) =>
        store.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand("SELECT stage, depth FROM bs.queue_depth()", conn);
            var rows = await Rows.ListAsync(cmd, r => (Stage: r.GetString(0), Depth: r.GetInt64(1)), ct).ConfigureAwait(false);
            return rows.ToDictionary(r => r.Stage, r => r.Depth, StringComparer.Ordinal);
        }, ct);

    /// <summary>
    /// Places up to <paramref name="batchSize"/> pending operations; returns what it decided. An
    /// operation that could only be decided with a host another scheduler holds at that moment is
    /// left pending and tried again at once (in a new transaction), so every operation claimed
    /// here ends placed or failed, as before.
    /// </summary>
    public async Task<List<PlacementOutcome>> PlaceBatchAsync(string schedulerHost, int batchSize, CancellationToken ct = default) =>
        (await PlaceBatchCheckedAsync(schedulerHost, batchSize, ct).ConfigureAwait(false)).Outcomes;

    /// <summary>
    /// As <see cref="PlaceBatchAsync"/>, and says whether this scheduler was enabled: the batch's
    /// first statement reads (and share-locks) its service row anyway, so the scheduler's worker
    /// needs no separate read of the flag before each batch (one round trip per wake-up less).
    /// </summary>
    public async Task<PlacementBatch> PlaceBatchCheckedAsync(string schedulerHost, int batchSize, CancellationToken ct = default)
    {
        var all = new List<PlacementOutcome>();
        for (var attempt = 1; ; attempt++)
        {
            var (outcomes, deferred, enabled) = await Placement.RunAsync(conn => PlaceOnceAsync(conn, schedulerHost, batchSize, ct), ct).ConfigureAwait(false);
            all.AddRange(outcomes);
            if (deferred == 0 || all.Count >= batchSize || !enabled)
            {
                return new PlacementBatch(all, enabled);
            }

            if (outcomes.Count == 0)
            {
                // Only busy hosts could decide: their holder commits within milliseconds.
                await Task.Delay(TransientRetry.BusyHost.After(attempt), ct).ConfigureAwait(false);
            }
        }
    }

    private async Task<(List<PlacementOutcome> Outcomes, int Deferred, bool Enabled)> PlaceOnceAsync(
        NpgsqlConnection conn, string schedulerHost, int batchSize, CancellationToken ct)
    {
        var outcomes = new List<PlacementOutcome>();
        var useCache = HostCacheMaxAge > TimeSpan.Zero;
        string? signature = null;
        await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);

        // Holding our own service row FOR SHARE makes a disable wait for this batch, and
        // this batch see a disable that committed first: once Disable-BlockVolumeService
        // returns, this scheduler places nothing more, even in the middle of draining a backlog.
        // The claim is the next statement of the same round trip and re-checks the flag.
        var work = new List<(long OpId, Guid VolumeId, int Size, string? Zone, string? Type, IReadOnlyDictionary<string, string>? Specs)>();
        var enabledNow = false;
        await using (var batch = new NpgsqlBatch(conn, tx))
        {
            var enabled = new NpgsqlBatchCommand(
                "SELECT NOT disabled FROM bs.services WHERE host = @h AND service = 'scheduler' FOR SHARE");
            enabled.Parameters.AddWithValue("h", schedulerHost);
            var claim = new NpgsqlBatchCommand(
                // The volume type's extra specs (none for a type without them: the fast path).
                "SELECT o.id, o.volume_id, v.size_gib, v.zone, v.volume_type, nullif(t.extra_specs, '{}'::jsonb)::text " +
                "FROM bs.operations o JOIN bs.volumes v ON v.id = o.volume_id LEFT JOIN bs.volume_types t ON t.name = v.volume_type " +
                "WHERE o.stage = 'pending' " +
                "  AND EXISTS (SELECT 1 FROM bs.services s WHERE s.host = @h AND s.service = 'scheduler' AND NOT s.disabled) " +
                "ORDER BY o.id LIMIT @n FOR UPDATE OF o SKIP LOCKED");
            claim.Parameters.AddWithValue("h", schedulerHost);
            claim.Parameters.AddWithValue("n", batchSize);
            batch.BatchCommands.Add(enabled);
            batch.BatchCommands.Add(claim);
            if (useCache)
            {
                batch.BatchCommands.Add(new NpgsqlBatchCommand(SignatureSelect));
            }

            await using var r = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
            // No service row reads as disabled, as the claim's own check does.
            enabledNow = await r.ReadAsync(ct).ConfigureAwait(false) && r.GetBoolean(0);
            await r.NextResultAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                var specs = r.IsDBNull(5) ? null : VolumeTypeRequests.ParseSpecs(r.GetString(5));
                work.Add((r.GetInt64(0), r.GetGuid(1), r.GetInt32(2), r.IsDBNull(3) ? null : r.GetString(3), specs is null ? null : r.GetString(4), specs));
            }

            if (useCache && await r.NextResultAsync(ct).ConfigureAwait(false) && await r.ReadAsync(ct).ConfigureAwait(false))
            {
                signature = r.GetString(0);
            }
        }

        if (work.Count == 0)
        {
            await tx.CommitAsync(ct).ConfigureAwait(false);
            return (outcomes, 0, enabledNow);
        }

        var requests = work.Select(w => new PlacementRequest(w.Size, w.Zone, w.Specs, w.Type)).ToList();
        var held = useCache ? cache : null;
        var cached = held is not null && signature is not null && held.Signature == signature
            && Environment.TickCount64 - held.ReadAtTicks < (long)HostCacheMaxAge.TotalMilliseconds
            ? held : null;
        var (plan, onlyLocked, snapshot, locked) = await PlanAndLockAsync(conn, tx, requests, cached?.Hosts, Spread, ct).ConfigureAwait(false);

        var placed = new List<(long OpId, Guid VolumeId, string Host, string Zone, string Message)>();
        var failed = new List<(long OpId, Guid VolumeId, string Reason)>();
        var deferred = 0;
        for (var i = 0; i < work.Count; i++)
        {
            var (opId, volumeId, size, zone, type, _) = work[i];
            var result = plan.Results[i];
            if (result.Placed)
            {
                var host = plan.Hosts[result.Host!];
                placed.Add((opId, volumeId, host.Host, host.Zone,
                    $"placed on {host.Host} by {schedulerHost} ({decimal.Round(result.HostFreeGiB ?? 0, 1)} GiB free before)"));
                outcomes.Add(new PlacementOutcome(opId, volumeId, host.Host, "placed"));
            }
            else if (onlyLocked)
            {
                deferred++; // decided without some hosts: stays pending for the next pass
            }
            else
            {
                var reason = result.Explain(size, zone, type);
                failed.Add((opId, volumeId, reason));
                outcomes.Add(new PlacementOutcome(opId, volumeId, null, reason, RejectionClasses.Of(result)));
            }
        }

        await WriteAsync(conn, tx, placed, failed, ct).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
        if (useCache && signature is not null)
        {
            // Committed: the hosts locked here are known as of now, with this batch's placements
            // (the plan's values); the others as the snapshot read them. A deferral (busy hosts,
            // or only the locked ones left) drops the copy: the next pass reads every host.
            cache = onlyLocked ? null : new HostCache(
                [.. snapshot.Select(h => locked.Contains(h.Host) && plan.Hosts.TryGetValue(h.Host, out var now) ? now : h)],
                signature,
                cached?.ReadAtTicks ?? Environment.TickCount64);
        }

        return (outcomes, deferred, enabledNow);
    }

    /// <summary>
    /// Places the batch on a snapshot of every host, locks the ledger rows of the hosts it chose
    /// (SKIP LOCKED: a host another scheduler holds is left out, never waited for, so schedulers
    /// cannot deadlock), re-reads them as of the lock and places again, until every placement is
    /// on a locked host. Returns the plan and whether it was made without some hosts (busy, or
    /// after <see cref="MaxLockRounds"/> only the locked ones): then a failure is not final.
    /// </summary>
    private static async Task<(BatchPlacement Plan, bool OnlyLocked, List<HostCandidate> Snapshot, IReadOnlySet<string> Locked)> PlanAndLockAsync(
        NpgsqlConnection conn, NpgsqlTransaction tx, List<PlacementRequest> requests, List<HostCandidate>? cached, PlacementSpread? spread, CancellationToken ct)
    {
        // A copy from an earlier pass (cached) plans as well as a fresh read: every host used is
        // locked and read again below before the plan counts.
        var fromCache = cached is not null;
        var snapshot = cached ?? await ReadCandidatesAsync(conn, tx, ct).ConfigureAwait(false);
        var locked = new Dictionary<string, HostCandidate>(StringComparer.Ordinal);
        var busy = new HashSet<string>(StringComparer.Ordinal);
        Dictionary<string, HostCandidate>? snapshotByName = null;
        for (var round = 1; ; round++)
        {
            var lastRound = round > MaxLockRounds;
            var view = lastRound
                ? locked.Values
                : snapshot.Where(h => !busy.Contains(h.Host)).Select(h => locked.GetValueOrDefault(h.Host) ?? h);
            var plan = PlacementPolicy.PlaceAll(requests, view, spread);
            var wanted = plan.Results.Where(r => r.Placed && !locked.ContainsKey(r.Host!)).Select(r => r.Host!)
                .Distinct().Order(StringComparer.Ordinal).ToArray();
            if (wanted.Length == 0)
            {
                if (fromCache && !lastRound && plan.Results.Any(r => !r.Placed))
                {
                    // A failure is decided only on a fresh read of every host, never on the copy:
                    // a host enabled, thawed or registered since then may take it, and the reason
                    // names the hosts as they are now.
                    snapshot = await ReadCandidatesAsync(conn, tx, ct).ConfigureAwait(false);
                    snapshotByName = null;
                    fromCache = false;
                    continue;
                }

                return (plan, lastRound || busy.Count > 0, snapshot, locked.Keys.ToHashSet(StringComparer.Ordinal));
            }

            var fresh = await LockHostsAsync(conn, tx, wanted, ct).ConfigureAwait(false);
            var asPlanned = true;
            foreach (var host in wanted)
            {
                if (fresh.TryGetValue(host, out var candidate))
                {
                    asPlanned &= candidate.SamePlacementInputs((snapshotByName ??= snapshot.ToDictionary(h => h.Host, StringComparer.Ordinal))[host]);
                    locked[host] = candidate;
                }
                else
                {
                    busy.Add(host);
                    asPlanned = false;
                }
            }

            // Every host the plan chose is locked and still as this round planned with it, and none
            // turned out busy: the next round would see the very same hosts and, placement being
            // deterministic, make this plan again (about 0.6 ms over 1,000 hosts) with nothing
            // left to lock, and return it. Return it now, as that round would, unless that round is
            // the last (it plans with the locked hosts only) or would re-read a cached copy first.
            if (asPlanned && round < MaxLockRounds && !(fromCache && plan.Results.Any(r => !r.Placed)))
            {
                return (plan, busy.Count > 0, snapshot, locked.Keys.ToHashSet(StringComparer.Ordinal));
            }
        }
    }

    /// <summary>
    /// Locks the ledger rows of <paramref name="hosts"/> that no one else holds and returns those
    /// hosts as of now: a second statement (a new snapshot in READ COMMITTED), so it sees what a
    /// scheduler that held the row before us committed, and any disable or freeze (which takes
    /// the ledger lock too).
    /// </summary>
    private static async Task<Dictionary<string, HostCandidate>> LockHostsAsync(
        NpgsqlConnection conn, NpgsqlTransaction tx, string[] hosts, CancellationToken ct)
    {
        var lockedNames = new HashSet<string>(StringComparer.Ordinal);
        var result = new Dictionary<string, HostCandidate>(StringComparer.Ordinal);
        await using var batch = new NpgsqlBatch(conn, tx);
        var lockRows = new NpgsqlBatchCommand(
            "SELECT l.host FROM bs.capacity_ledger l WHERE l.host = ANY(@hosts) ORDER BY l.host FOR UPDATE SKIP LOCKED");
        lockRows.Parameters.AddWithValue("hosts", hosts);
        var read = new NpgsqlBatchCommand(CandidateSelect + " AND s.host = ANY(@hosts)");
        read.Parameters.AddWithValue("hosts", hosts);
        batch.BatchCommands.Add(lockRows);
        batch.BatchCommands.Add(read);
        await using var r = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            lockedNames.Add(r.GetString(0));
        }

        await r.NextResultAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            var candidate = ReadCandidate(r);
            if (lockedNames.Contains(candidate.Host))
            {
                result[candidate.Host] = candidate;
            }
        }

        return result;
    }

    /// <summary>
    /// Locks one host's ledger row, waiting for it (an extend request: one row, so no deadlock with
    /// schedulers, which skip locked rows), and returns the host as of the lock; null when the host
    /// has no ledger row or no volume service.
    /// </summary>
    internal static async Task<HostCandidate?> LockHostAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string host, CancellationToken ct)
    {
        await using (var lockRow = new NpgsqlCommand("SELECT host FROM bs.capacity_ledger WHERE host = @h FOR UPDATE", conn, tx))
        {
            lockRow.Parameters.AddWithValue("h", host);
            if (await lockRow.ExecuteScalarAsync(ct).ConfigureAwait(false) is null)
            {
                return null;
            }
        }

        await using var cmd = new NpgsqlCommand(CandidateSelect + " AND s.host = @h", conn, tx);
        cmd.Parameters.AddWithValue("h", host);
        return await Rows.FirstOrDefaultAsync(cmd, ReadCandidate, ct).ConfigureAwait(false);
    }

    /// <summary>Every volume host with its ledger row, without locks (a snapshot to plan with).</summary>
    private static async Task<List<HostCandidate>> ReadCandidatesAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(CandidateSelect, conn, tx);
        return await Rows.ListAsync(cmd, ReadCandidate, ct).ConfigureAwait(false);
    }

    private static HostCandidate ReadCandidate(NpgsqlDataReader r) => new()
    {
        Host = r.GetString(0),
        Zone = r.GetString(1),
        Enabled = !r.GetBoolean(2),
        DisabledReason = r.IsDBNull(3) ? null : r.GetString(3),
        Frozen = r.GetBoolean(4),
        Healthy = r.GetBoolean(5),
        HealthReason = r.IsDBNull(6) ? null : r.GetString(6),
        BackendType = r.GetString(7),
        TotalGiB = r.GetDecimal(8),
        ReportedFreeGiB = r.GetDecimal(9),
        ReservedPercentage = r.GetInt32(10),
        MaxOverSubscriptionRatio = r.GetDecimal(11),
        Up = r.GetBoolean(12),
        ReportedAllocatedGiB = r.IsDBNull(13) ? null : r.GetDecimal(13),
        ProvisionedGiB = r.GetInt64(14),
        Capabilities = ReportedCapabilities(r.GetString(15)),
    };

    /// <summary>
    /// The capabilities an agent reported (bs.services.capabilities), as strings a volume type's
    /// extra specs compare with: flags as true/false; the reasons beside them ('iscsi_reason') are
    /// for people, not for matching.
    /// </summary>
    internal static IReadOnlyDictionary<string, string> ReportedCapabilities(string json)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name.EndsWith("_reason", StringComparison.Ordinal))
            {
                continue;
            }

            var value = p.Value.ValueKind switch
            {
                System.Text.Json.JsonValueKind.True => "true",
                System.Text.Json.JsonValueKind.False => "false",
                System.Text.Json.JsonValueKind.String => p.Value.GetString(),
                System.Text.Json.JsonValueKind.Number => p.Value.GetRawText(),
                _ => null,
            };
            if (value is not null)
            {
                result[p.Name] = value;
            }
        }

        return result;
    }

    /// <summary>
    /// Writes the batch's decisions with set-based statements in one round trip: placed operations
    /// become scheduled on their host (the volume update moves the ledger, by trigger) with a
    /// 'scheduled' event each; failed ones end failed with the volume in error and an 'error' event,
    /// and wake any -Wait; each host with new work is notified once.
    /// </summary>
    private static async Task WriteAsync(NpgsqlConnection conn, NpgsqlTransaction tx,
        List<(long OpId, Guid VolumeId, string Host, string Zone, string Message)> placed,
        List<(long OpId, Guid VolumeId, string Reason)> failed, CancellationToken ct)
    {
        await using var batch = new NpgsqlBatch(conn, tx);
        if (placed.Count > 0)
        {
            var assign = new NpgsqlBatchCommand(
                "WITH p AS (SELECT * FROM unnest(@ops::bigint[], @vols::uuid[], @hosts::text[], @zones::text[], @msgs::text[]) AS p(op, vol, host, zone, msg)), " +
                "o AS (UPDATE bs.operations o SET stage = 'scheduled', host = p.host, updated_at = now() FROM p WHERE o.id = p.op), " +
                "v AS (UPDATE bs.volumes v SET host = p.host, zone = coalesce(v.zone, p.zone), updated_at = now() FROM p WHERE v.id = p.vol) " +
                "INSERT INTO bs.events (volume_id, host, service, kind, message) SELECT p.vol, p.host, 'scheduler', 'scheduled', p.msg FROM p");
            assign.Parameters.AddWithValue("ops", placed.Select(p => p.OpId).ToArray());
            assign.Parameters.AddWithValue("vols", placed.Select(p => p.VolumeId).ToArray());
            assign.Parameters.AddWithValue("hosts", placed.Select(p => p.Host).ToArray());
            assign.Parameters.AddWithValue("zones", placed.Select(p => p.Zone).ToArray());
            assign.Parameters.AddWithValue("msgs", placed.Select(p => p.Message).ToArray());
            batch.BatchCommands.Add(assign);

            var wake = new NpgsqlBatchCommand("SELECT pg_notify(@c, h) FROM unnest(@hosts::text[]) AS h");
            wake.Parameters.AddWithValue("c", Channels.Agent);
            wake.Parameters.AddWithValue("hosts", placed.Select(p => p.Host).Distinct().ToArray());
            batch.BatchCommands.Add(wake);
        }

        if (failed.Count > 0)
        {
            var fail = new NpgsqlBatchCommand(
                "WITH f AS (SELECT * FROM unnest(@ops::bigint[], @vols::uuid[], @reasons::text[]) AS f(op, vol, reason)), " +
                "o AS (UPDATE bs.operations o SET stage = 'failed', error = f.reason, finished_at = now(), updated_at = now() FROM f WHERE o.id = f.op), " +
                "v AS (UPDATE bs.volumes v SET status = 'error', status_reason = f.reason, updated_at = now() FROM f WHERE v.id = f.vol AND v.status = 'creating') " +
                "INSERT INTO bs.events (volume_id, host, service, kind, message) SELECT f.vol, NULL, 'scheduler', 'error', f.reason FROM f");
            fail.Parameters.AddWithValue("ops", failed.Select(f => f.OpId).ToArray());
            fail.Parameters.AddWithValue("vols", failed.Select(f => f.VolumeId).ToArray());
            fail.Parameters.AddWithValue("reasons", failed.Select(f => f.Reason).ToArray());
            batch.BatchCommands.Add(fail);

            var wake = new NpgsqlBatchCommand("SELECT pg_notify(@c, v::text) FROM unnest(@vols::uuid[]) AS v");
            wake.Parameters.AddWithValue("c", Channels.VolumeStatus);
            wake.Parameters.AddWithValue("vols", failed.Select(f => f.VolumeId).ToArray());
            batch.BatchCommands.Add(wake);
        }

        if (batch.BatchCommands.Count > 0)
        {
            await batch.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
    }
}
