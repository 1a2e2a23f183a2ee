-- BlockStore schema, version 17: the quota ledger (issue 11; the case is in docs/benchmarks.md, "Quotas").
--
-- With a finite limit, the quota check counted the project's live volumes and snapshots after
-- locking the project's row: O(volumes in the project). With 100,000 volumes in one project that
-- added 21-23 ms to every request and, since the count runs under the lock, held the project to
-- about 40 requests a second. The ledger keeps those sums per project and volume type, changed by
-- the very statement that changes the rows (statement triggers with transition tables, as
-- bs.capacity_ledger in 0008), so the check reads a few ledger rows instead of counting.
--
-- What counts is unchanged (bs.quota_usage, 0011, is the definition, and stays the sum from
-- scratch): a volume from its request until it is deleted, a snapshot the same way under its
-- volume's project and type, gigabytes the sizes of both. bs.quota_ledger_drift compares the two;
-- the data tests check it after every scenario.
--
-- A statement that changes no usage (a placement, a move between live statuses) writes no ledger
-- row (its trigger still groups the statement's rows once), so schedulers never contend on it; a
-- request, an extend, or an agent's completion of a delete updates the project's (project, type)
-- row, held until that transaction commits.

CREATE TABLE bs.quota_ledger (
    project     text NOT NULL,
    volume_type text NOT NULL,
    volumes     bigint NOT NULL DEFAULT 0 CHECK (volumes >= 0),
    gigabytes   bigint NOT NULL DEFAULT 0 CHECK (gigabytes >= 0),
    snapshots   bigint NOT NULL DEFAULT 0 CHECK (snapshots >= 0),
    PRIMARY KEY (project, volume_type)
);

-- Adds one difference to a (project, type) row. UPDATE first: an INSERT ... ON CONFLICT would
-- check a negative difference against the CHECKs before finding the row (0008's reason); a
-- difference that would make a row negative is a drift and fails the statement rather than
-- being hidden.
CREATE FUNCTION bs.quota_ledger_add(p_project text, p_type text, p_volumes bigint, p_gib bigint, p_snapshots bigint) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    UPDATE bs.quota_ledger l
    SET volumes = l.volumes + p_volumes, gigabytes = l.gigabytes + p_gib, snapshots = l.snapshots + p_snapshots
    WHERE l.project = p_project AND l.volume_type = p_type;
    IF NOT FOUND THEN
        INSERT INTO bs.quota_ledger AS l (project, volume_type, volumes, gigabytes, snapshots)
        VALUES (p_project, p_type, p_volumes, p_gib, p_snapshots)
        ON CONFLICT (project, volume_type) DO UPDATE
            SET volumes = l.volumes + EXCLUDED.volumes,
                gigabytes = l.gigabytes + EXCLUDED.gigabytes,
                snapshots = l.snapshots + EXCLUDED.snapshots;
    END IF;
END $$;

-- Statement triggers with transition tables, as the capacity ledger's: a set-based statement is
-- one ledger update per (project, type), not one per row (row triggers updated the same ledger row
-- once per row: a bulk insert of 100,000 volumes took 81 s instead of 11 s, each update walking
-- the row's versions of the same transaction). A statement that moves no usage (a placement, a
-- status between live states, a lease) writes nothing. PL/pgSQL with one grouped query and one
-- UPDATE by key per group: about 0.1 ms per request, measured (a version with arrays and a SQL
-- function, planned again on every call, took 0.3-0.6 ms).
-- Live rows always have a project and a type (0011's trigger and CHECK); coalesce only keeps the
-- ledger's key NOT NULL.
CREATE FUNCTION bs.volumes_quota_ledger() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    d record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        FOR d IN SELECT coalesce(n.project, '') AS project, coalesce(n.volume_type, '') AS volume_type,
                        count(*)::bigint AS volumes, sum(n.size_gib)::bigint AS gib
                 FROM new_rows n WHERE n.status <> 'deleted' GROUP BY 1, 2 ORDER BY 1, 2 LOOP
            PERFORM bs.quota_ledger_add(d.project, d.volume_type, d.volumes, d.gib, 0);
        END LOOP;
    ELSIF TG_OP = 'DELETE' THEN
        FOR d IN SELECT coalesce(o.project, '') AS project, coalesce(o.volume_type, '') AS volume_type,
                        count(*)::bigint AS volumes, sum(o.size_gib)::bigint AS gib
                 FROM old_rows o WHERE o.status <> 'deleted' GROUP BY 1, 2 ORDER BY 1, 2 LOOP
            PERFORM bs.quota_ledger_add(d.project, d.volume_type, -d.volumes, -d.gib, 0);
        END LOOP;
    ELSE
        FOR d IN SELECT x.project, x.volume_type, sum(x.volumes)::bigint AS volumes, sum(x.gib)::bigint AS gib
                 FROM (SELECT coalesce(n.project, '') AS project, coalesce(n.volume_type, '') AS volume_type, 1 AS volumes, n.size_gib::bigint AS gib
                       FROM new_rows n WHERE n.status <> 'deleted'
                       UNION ALL
                       SELECT coalesce(o.project, ''), coalesce(o.volume_type, ''), -1, -o.size_gib::bigint
                       FROM old_rows o WHERE o.status <> 'deleted') x
                 GROUP BY 1, 2 HAVING sum(x.volumes) <> 0 OR sum(x.gib) <> 0 ORDER BY 1, 2 LOOP
            PERFORM bs.quota_ledger_add(d.project, d.volume_type, d.volumes, d.gib, 0);
        END LOOP;
    END IF;
    RETURN NULL;
END $$;

-- Snapshots count under their volume's project and type (a volume's project and type do not
-- change while it has live snapshots).
CREATE FUNCTION bs.snapshots_quota_ledger() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    d record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        FOR d IN SELECT coalesce(v.project, '') AS project, coalesce(v.volume_type, '') AS volume_type,
                        count(*)::bigint AS snapshots, sum(n.size_gib)::bigint AS gib
                 FROM new_rows n JOIN bs.volumes v ON v.id = n.volume_id WHERE n.status <> 'deleted' GROUP BY 1, 2 ORDER BY 1, 2 LOOP
            PERFORM bs.quota_ledger_add(d.project, d.volume_type, 0, d.gib, d.snapshots);
        END LOOP;
    ELSIF TG_OP = 'DELETE' THEN
        FOR d IN SELECT coalesce(v.project, '') AS project, coalesce(v.volume_type, '') AS volume_type,
                        count(*)::bigint AS snapshots, sum(o.size_gib)::bigint AS gib
                 FROM old_rows o JOIN bs.volumes v ON v.id = o.volume_id WHERE o.status <> 'deleted' GROUP BY 1, 2 ORDER BY 1, 2 LOOP
            PERFORM bs.quota_ledger_add(d.project, d.volume_type, 0, -d.gib, -d.snapshots);
        END LOOP;
    ELSE
        FOR d IN SELECT x.project, x.volume_type, sum(x.snapshots)::bigint AS snapshots, sum(x.gib)::bigint AS gib
                 FROM (SELECT coalesce(v.project, '') AS project, coalesce(v.volume_type, '') AS volume_type, 1 AS snapshots, n.size_gib::bigint AS gib
                       FROM new_rows n JOIN bs.volumes v ON v.id = n.volume_id WHERE n.status <> 'deleted'
                       UNION ALL
                       SELECT coalesce(v.project, ''), coalesce(v.volume_type, ''), -1, -o.size_gib::bigint
                       FROM old_rows o JOIN bs.volumes v ON v.id = o.volume_id WHERE o.status <> 'deleted') x
                 GROUP BY 1, 2 HAVING sum(x.snapshots) <> 0 OR sum(x.gib) <> 0 ORDER BY 1, 2 LOOP
            PERFORM bs.quota_ledger_add(d.project, d.volume_type, 0, d.gib, d.snapshots);
        END LOOP;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER quota_ledger_insert AFTER INSERT ON bs.volumes
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bs.volumes_quota_ledger();
CREATE TRIGGER quota_ledger_update AFTER UPDATE ON bs.volumes
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bs.volumes_quota_ledger();
CREATE TRIGGER quota_ledger_delete AFTER DELETE ON bs.volumes
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION bs.volumes_quota_ledger();
CREATE TRIGGER quota_ledger_insert AFTER INSERT ON bs.snapshots
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bs.snapshots_quota_ledger();
CREATE TRIGGER quota_ledger_update AFTER UPDATE ON bs.snapshots
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bs.snapshots_quota_ledger();
CREATE TRIGGER quota_ledger_delete AFTER DELETE ON bs.snapshots
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION bs.snapshots_quota_ledger();

-- The ledger as it must be now (the triggers above hold the writers off until this commits).
INSERT INTO bs.quota_ledger (project, volume_type, volumes, gigabytes, snapshots)
SELECT coalesce(u.project, ''), u.volume_type, u.volumes, u.gigabytes, u.snapshots
FROM bs.quota_usage u WHERE u.volume_type IS NOT NULL;

-- The reconcile query: every (project, type) where the ledger and the sum from scratch differ
-- (empty when right). bs.quota_usage's per-type rows (its per-project totals have no type).
CREATE VIEW bs.quota_ledger_drift AS
SELECT coalesce(l.project, h.project) AS project, coalesce(l.volume_type, h.volume_type) AS volume_type,
       coalesce(l.volumes, 0) AS ledger_volumes, coalesce(h.volumes, 0) AS held_volumes,
       coalesce(l.gigabytes, 0) AS ledger_gigabytes, coalesce(h.gigabytes, 0) AS held_gigabytes,
       coalesce(l.snapshots, 0) AS ledger_snapshots, coalesce(h.snapshots, 0) AS held_snapshots
FROM bs.quota_ledger l
FULL JOIN (SELECT coalesce(u.project, '') AS project, u.volume_type, u.volumes, u.gigabytes, u.snapshots
           FROM bs.quota_usage u WHERE u.volume_type IS NOT NULL) h
    ON h.project = l.project AND h.volume_type = l.volume_type
WHERE coalesce(l.volumes, 0) <> coalesce(h.volumes, 0)
   OR coalesce(l.gigabytes, 0) <> coalesce(h.gigabytes, 0)
   OR coalesce(l.snapshots, 0) <> coalesce(h.snapshots, 0);

-- The check reads the ledger. Everything else as in 0015: the fast path for projects without a
-- finite limit, and the project's row locked FOR UPDATE before the usage is read, so the requests
-- of a limited project are serialised and each reads the one before it (READ COMMITTED: a new
-- snapshot per statement).
CREATE OR REPLACE FUNCTION bs.quota_check(p_project text, p_type text, p_volumes integer, p_gib bigint, p_snapshots integer) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r record;
    v_in_use bigint;
    v_locked boolean := false;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM bs.quotas q
                   WHERE q.hard_limit >= 0 AND (q.project IS NULL OR q.project = p_project)
                     AND (q.volume_type IS NULL OR q.volume_type = p_type)) THEN
        RETURN;
    END IF;
    FOR r IN
        SELECT x.resource, t.volume_type, x.amount, bs.quota_limit(p_project, t.volume_type, x.resource) AS hard_limit
        FROM (VALUES ('volumes', p_volumes::bigint), ('gigabytes', p_gib), ('snapshots', p_snapshots::bigint)) AS x(resource, amount)
        CROSS JOIN (SELECT DISTINCT y.volume_type FROM (VALUES (NULL::text), (p_type)) AS y(volume_type)) AS t
        WHERE x.amount > 0
        ORDER BY t.volume_type NULLS FIRST, x.resource
    LOOP
        CONTINUE WHEN r.hard_limit < 0;
        IF NOT v_locked THEN
            PERFORM 1 FROM bs.projects p WHERE p.name = p_project FOR UPDATE;
            v_locked := true;
        END IF;
        SELECT CASE r.resource WHEN 'volumes' THEN coalesce(sum(l.volumes), 0)
                               WHEN 'gigabytes' THEN coalesce(sum(l.gigabytes), 0)
                               ELSE coalesce(sum(l.snapshots), 0) END
        INTO v_in_use
        FROM bs.quota_ledger l
        WHERE l.project = coalesce(p_project, '') AND (r.volume_type IS NULL OR l.volume_type = r.volume_type);
        IF v_in_use + r.amount > r.hard_limit THEN
            RAISE EXCEPTION USING ERRCODE = 'BSQ01',
                MESSAGE = format('Quota exceeded for %s%s in project %s: limit %s, in use %s, requested %s. Nothing was requested.',
                                 r.resource, CASE WHEN r.volume_type IS NULL THEN '' ELSE format(' of volume type %s', r.volume_type) END,
                                 p_project, r.hard_limit, v_in_use, r.amount),
                DETAIL = r.resource;
        END IF;
    END LOOP;
END $$;

-- Privileges: only the owner's functions change the ledger (the operator's default DML on new
-- tables is taken back); the operator and readers may read it and the drift.
REVOKE ALL ON bs.quota_ledger FROM bs_operator;
GRANT SELECT ON bs.quota_ledger, bs.quota_ledger_drift TO bs_operator, bs_reader;
REVOKE EXECUTE ON FUNCTION bs.quota_ledger_add(text, text, bigint, bigint, bigint) FROM PUBLIC;
