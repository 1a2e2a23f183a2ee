-- BlockStore schema, version 19: the capacity ledger's writer in PL/pgSQL (issue 11; measured in
-- docs/benchmarks.md, "Control plane at scale", 2026-12-06).
--
-- bs.capacity_ledger_add (0008) was a SQL function: PostgreSQL plans a SQL function's statement
-- again at every call (it cannot be inlined: it writes), and its statement (a grouped unnest, an
-- UPDATE and an INSERT ... ON CONFLICT in CTEs) took 0.7-0.75 ms of the scheduler's placement
-- write and of the agent's completion of every delete at 1,000 hosts (EXPLAIN ANALYZE of the
-- placement's statement: "Trigger capacity_ledger_update ... time=0.75"). PL/pgSQL keeps its
-- statements' plans for the session, as bs.quota_ledger_add (0017) does for the same reason.
--
-- Same arguments, same result: the per-host differences summed, zero differences skipped, each
-- host's row updated first (so a negative difference for a row that exists is checked against the
-- row, and one for a missing row fails the INSERT's CHECK, as before: a drift, never hidden), then
-- inserted when missing (ON CONFLICT: a concurrent first write to the same host). The hosts are
-- taken in name order, the order in which the schedulers lock ledger rows (FOR UPDATE, ORDER BY
-- host), so two writers of several hosts wait for each other in one direction only.
-- CREATE OR REPLACE keeps the owner, the grants and the triggers that call it.

CREATE OR REPLACE FUNCTION bs.capacity_ledger_add(p_hosts text[], p_gib bigint[], p_volumes integer[]) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    d record;
BEGIN
    FOR d IN SELECT x.host, sum(x.gib)::bigint AS gib, sum(x.volumes)::integer AS volumes
             FROM unnest(p_hosts, p_gib, p_volumes) AS x(host, gib, volumes)
             GROUP BY x.host
             HAVING sum(x.gib) <> 0 OR sum(x.volumes) <> 0
             ORDER BY x.host LOOP
        UPDATE bs.capacity_ledger l
        SET provisioned_gib = l.provisioned_gib + d.gib, volumes = l.volumes + d.volumes, updated_at = now()
        WHERE l.host = d.host;
        IF NOT FOUND THEN
            INSERT INTO bs.capacity_ledger AS l (host, provisioned_gib, volumes)
            VALUES (d.host, d.gib, d.volumes)
            ON CONFLICT (host) DO UPDATE
                SET provisioned_gib = l.provisioned_gib + EXCLUDED.provisioned_gib,
                    volumes = l.volumes + EXCLUDED.volumes,
                    updated_at = now();
        END IF;
    END LOOP;
END $$;
