-- BlockStore schema, version 18: the quota ledger in slots (issue 11; measured in docs/benchmarks.md,
-- "Quotas", tests/bench/ProjectConcurrency.Bench.ps1).
--
-- 0017 kept one row per (project, volume type). Every create and delete of a project updates that
-- row and holds it until its transaction commits, so the requests of one busy project queued on it
-- even without any finite limit, which they never did before 0017. Side by side (16 pgbench clients
-- making New-BlockVolume's request in one project, 2 cores): one ledger row 694 requests/s (median
-- of 3), no ledger 884/s, these slots 862/s; without the request's NOTIFY, whose database-wide lock
-- at commit otherwise hides part of it, one row 849/s against slots 1,161/s.
--
-- Now each (project, type) has up to 16 rows, one per slot, and a write goes to the slot of its
-- server process (pg_backend_pid() % 16): concurrent requests on different connections update
-- different rows. Everything that reads the ledger sums the slots: bs.quota_check already summed
-- the rows of a project (over types), so it is unchanged; bs.quota_ledger_drift sums them before
-- comparing with bs.quota_usage.
--
-- A slot may go below zero (a volume counted in one slot is released by a delete in another), so
-- the per-row CHECKs of 0017 go: the sum is what must hold, and bs.quota_ledger_drift (checked by
-- the data tests after every scenario) is what checks it.

ALTER TABLE bs.quota_ledger DROP CONSTRAINT quota_ledger_volumes_check;
ALTER TABLE bs.quota_ledger DROP CONSTRAINT quota_ledger_gigabytes_check;
ALTER TABLE bs.quota_ledger DROP CONSTRAINT quota_ledger_snapshots_check;
ALTER TABLE bs.quota_ledger ADD COLUMN slot smallint NOT NULL DEFAULT 0 CHECK (slot BETWEEN 0 AND 15);
ALTER TABLE bs.quota_ledger DROP CONSTRAINT quota_ledger_pkey;
ALTER TABLE bs.quota_ledger ADD PRIMARY KEY (project, volume_type, slot);

-- Adds one difference to this connection's slot of a (project, type). UPDATE first, as 0017: the
-- row exists after a connection's first write to it, and the INSERT is only for that first time.
CREATE OR REPLACE FUNCTION bs.quota_ledger_add(p_project text, p_type text, p_volumes bigint, p_gib bigint, p_snapshots bigint) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_slot smallint := (pg_backend_pid() % 16)::smallint;
BEGIN
    UPDATE bs.quota_ledger l
    SET volumes = l.volumes + p_volumes, gigabytes = l.gigabytes + p_gib, snapshots = l.snapshots + p_snapshots
    WHERE l.project = p_project AND l.volume_type = p_type AND l.slot = v_slot;
    IF NOT FOUND THEN
        INSERT INTO bs.quota_ledger AS l (project, volume_type, slot, volumes, gigabytes, snapshots)
        VALUES (p_project, p_type, v_slot, p_volumes, p_gib, p_snapshots)
        ON CONFLICT (project, volume_type, slot) DO UPDATE
            SET volumes = l.volumes + EXCLUDED.volumes,
                gigabytes = l.gigabytes + EXCLUDED.gigabytes,
                snapshots = l.snapshots + EXCLUDED.snapshots;
    END IF;
END $$;

-- The reconcile query as in 0017, with the ledger's slots summed first.
CREATE OR REPLACE VIEW bs.quota_ledger_drift AS
SELECT coalesce(l.project, h.project) AS project, coalesce(l.volume_type, h.volume_type) AS volume_type,
       coalesce(l.volumes, 0) AS ledger_volumes, coalesce(h.volumes, 0) AS held_volumes,
       coalesce(l.gigabytes, 0) AS ledger_gigabytes, coalesce(h.gigabytes, 0) AS held_gigabytes,
       coalesce(l.snapshots, 0) AS ledger_snapshots, coalesce(h.snapshots, 0) AS held_snapshots
FROM (SELECT s.project, s.volume_type, sum(s.volumes)::bigint AS volumes, sum(s.gigabytes)::bigint AS gigabytes, sum(s.snapshots)::bigint AS snapshots
      FROM bs.quota_ledger s GROUP BY s.project, s.volume_type) l
FULL JOIN (SELECT coalesce(u.project, '') AS project, u.volume_type, u.volumes, u.gigabytes, u.snapshots
           FROM bs.quota_usage u WHERE u.volume_type IS NOT NULL) h
    ON h.project = l.project AND h.volume_type = l.volume_type
WHERE coalesce(l.volumes, 0) <> coalesce(h.volumes, 0)
   OR coalesce(l.gigabytes, 0) <> coalesce(h.gigabytes, 0)
   OR coalesce(l.snapshots, 0) <> coalesce(h.snapshots, 0);
