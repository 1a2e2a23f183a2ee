-- BlockStore schema, version 14 (issue 15, "Metrics and health"): each host reports where it serves
-- /metrics and /healthz (BlockStore:Metrics:Url), so Get-BlockVolumeService shows an operator, or a
-- Prometheus file-based discovery script, where to scrape. NULL: the host serves no metrics.
ALTER TABLE bs.services ADD COLUMN metrics_url text;

-- The hosts write it when they register, as they write their version: the same columns' grants.
GRANT INSERT (metrics_url), UPDATE (metrics_url) ON bs.services TO bs_scheduler, bs_agent;

-- The scheduler's queue-depth gauge: operations waiting or running, by stage. Row-level security lets
-- the scheduler's role see pending operations only; this counts every stage and returns nothing
-- else, so it runs as its owner. Open operations are few rows, found by the partial indexes
-- operations_pending and operations_host_live (0001).
CREATE FUNCTION bs.queue_depth() RETURNS TABLE (stage text, depth bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT s.stage, (SELECT count(*) FROM bs.operations o WHERE o.stage = s.stage)
    FROM unnest(ARRAY['pending', 'scheduled', 'running']) AS s(stage)
$$;
REVOKE EXECUTE ON FUNCTION bs.queue_depth() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bs.queue_depth() TO bs_scheduler, bs_reader, bs_operator;
