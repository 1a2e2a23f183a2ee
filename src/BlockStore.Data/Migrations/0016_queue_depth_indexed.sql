-- BlockStore schema, version 16 (issue 11, measured by tests/bench/Scale.Bench.ps1): the scheduler's
-- queue-depth gauge (0014) compared the stage with a value of unnest(), so the planner could not
-- prove the partial indexes' predicates and counted by three sequential scans of bs.operations:
-- 160-190 ms per refresh at 100,000 volumes (EXPLAIN ANALYZE in the bench run of 2026-12-04). One
-- count per stage with the stage written out: each is a scan of its partial index (operations_pending,
-- operations_host_live), as many rows as there are open operations. Same rows, same grants.
CREATE OR REPLACE FUNCTION bs.queue_depth() RETURNS TABLE (stage text, depth bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT 'pending'::text, (SELECT count(*) FROM bs.operations o WHERE o.stage = 'pending')
    UNION ALL
    SELECT 'scheduled'::text, (SELECT count(*) FROM bs.operations o WHERE o.stage = 'scheduled')
    UNION ALL
    SELECT 'running'::text, (SELECT count(*) FROM bs.operations o WHERE o.stage = 'running')
$$;
