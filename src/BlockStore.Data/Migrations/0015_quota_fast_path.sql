-- BlockStore schema, version 15: the quota check's fast path (docs/benchmarks.md, "Quotas"). The check
-- of 0011 looked up each limit (project and default, over all types and per type) on every insert;
-- a request of a project that no finite limit applies to now returns after one look-up.
CREATE OR REPLACE FUNCTION bs.quota_check(p_project text, p_type text, p_volumes integer, p_gib bigint, p_snapshots integer) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r record;
    v_in_use bigint;
    v_locked boolean := false;
BEGIN
    -- Most projects have no finite limit (every default is -1 out of the box): one index look-up
    -- answers that, instead of a limit look-up per resource and type on every request.
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
            -- One request of the project at a time from here to its commit; this and every later
            -- statement of the function reads usage as committed after the lock (READ COMMITTED
            -- takes a new snapshot per statement), so the one before us is counted.
            PERFORM 1 FROM bs.projects p WHERE p.name = p_project FOR UPDATE;
            v_locked := true;
        END IF;
        SELECT CASE r.resource WHEN 'volumes' THEN coalesce(u.volumes, 0)
                               WHEN 'gigabytes' THEN coalesce(u.gigabytes, 0)
                               ELSE coalesce(u.snapshots, 0) END
        INTO v_in_use
        FROM (SELECT 1) AS one
        LEFT JOIN (
            SELECT sum(z.volumes) AS volumes, sum(z.gigabytes) AS gigabytes, sum(z.snapshots) AS snapshots
            FROM (
                SELECT 1 AS volumes, v.size_gib::bigint AS gigabytes, 0 AS snapshots
                FROM bs.volumes v
                WHERE v.project = p_project AND v.status <> 'deleted' AND (r.volume_type IS NULL OR v.volume_type = r.volume_type)
                UNION ALL
                SELECT 0, s.size_gib::bigint, 1
                FROM bs.snapshots s JOIN bs.volumes v ON v.id = s.volume_id
                WHERE v.project = p_project AND s.status <> 'deleted' AND (r.volume_type IS NULL OR v.volume_type = r.volume_type)
            ) z
        ) u ON true;
        IF v_in_use + r.amount > r.hard_limit THEN
            RAISE EXCEPTION USING ERRCODE = 'BSQ01',
                MESSAGE = format('Quota exceeded for %s%s in project %s: limit %s, in use %s, requested %s. Nothing was requested.',
                                 r.resource, CASE WHEN r.volume_type IS NULL THEN '' ELSE format(' of volume type %s', r.volume_type) END,
                                 p_project, r.hard_limit, v_in_use, r.amount),
                DETAIL = r.resource;
        END IF;
    END LOOP;
END $$;
