-- BlockStore schema, version 8: the capacity ledger (issue 11).
--
-- The scheduler used to sum the sizes of every live volume on every batch (a scan of bs.volumes)
-- and lock every volume service row. The ledger keeps that sum in one row per volume host,
-- changed by the very statement that assigns or releases space: triggers on bs.volumes add the
-- difference between the rows before and after each statement, in the same transaction. No code
-- path can move a volume without moving the ledger, so it cannot drift; the data tests compare it
-- with bs.capacity_held (the sum from scratch) after every scenario.
--
-- Placement locks only the ledger rows of the hosts it uses (FOR UPDATE SKIP LOCKED, in host order)
-- and re-reads them after the lock: two schedulers never fill the same free space twice.
--
-- Extending it (snapshots, ...): a table whose rows hold space on a host gets
--   1. a branch in bs.capacity_held (host, gib, volumes) with the rule for "holds space", and
--   2. statement triggers like bs.volumes_capacity_ledger that call bs.capacity_ledger_add with the
--      per-host difference of the statement's transition tables.

CREATE TABLE bs.capacity_ledger (
    host            text PRIMARY KEY,
    -- Sum of the sizes of what holds space on the host (live volumes placed there).
    provisioned_gib bigint NOT NULL DEFAULT 0 CHECK (provisioned_gib >= 0),
    -- How many volumes that is.
    volumes         integer NOT NULL DEFAULT 0 CHECK (volumes >= 0),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Does a volume hold space on its host? From the moment the scheduler assigns it until it is
-- deleted; a failed create (error) has no LV. The one definition, used by the triggers, the
-- reconcile view and the listing (Core's VolumeStatus.HoldsSpace says the same; a data test
-- compares them).
CREATE FUNCTION bs.volume_holds_space(p_host text, p_status text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT p_host IS NOT NULL AND p_status NOT IN ('deleted', 'error') $$;

-- What the ledger must say, computed from scratch (a scan: for checks and repairs, never for placement).
CREATE VIEW bs.capacity_held AS
SELECT h.host, sum(h.gib)::bigint AS provisioned_gib, sum(h.volumes)::integer AS volumes
FROM (
    SELECT v.host, v.size_gib::bigint AS gib, 1 AS volumes
    FROM bs.volumes v WHERE bs.volume_holds_space(v.host, v.status)
) h
GROUP BY h.host;

-- The reconcile query: every host where the ledger and the sum from scratch differ (empty when
-- right). The data tests check it after every scenario; an operator can read it too.
CREATE VIEW bs.capacity_ledger_drift AS
SELECT coalesce(l.host, h.host) AS host,
       coalesce(l.provisioned_gib, 0) AS ledger_gib, coalesce(h.provisioned_gib, 0) AS held_gib,
       coalesce(l.volumes, 0) AS ledger_volumes, coalesce(h.volumes, 0) AS held_volumes
FROM bs.capacity_ledger l FULL JOIN bs.capacity_held h ON h.host = l.host
WHERE coalesce(l.provisioned_gib, 0) <> coalesce(h.provisioned_gib, 0)
   OR coalesce(l.volumes, 0) <> coalesce(h.volumes, 0);

-- Adds per-host differences to the ledger. A host's row is made on first use (registration makes
-- it normally). A difference that would make a row negative is a drift and fails the statement
-- (CHECK) rather than being hidden. UPDATE first: an INSERT ... ON CONFLICT would check the
-- negative difference itself against the CHECK before finding the existing row.
CREATE FUNCTION bs.capacity_ledger_add(p_hosts text[], p_gib bigint[], p_volumes integer[]) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    WITH d AS (
        SELECT x.host, sum(x.gib)::bigint AS gib, sum(x.volumes)::integer AS volumes
        FROM unnest(p_hosts, p_gib, p_volumes) AS x(host, gib, volumes)
        GROUP BY x.host
        HAVING sum(x.gib) <> 0 OR sum(x.volumes) <> 0),
    u AS (
        UPDATE bs.capacity_ledger l
        SET provisioned_gib = l.provisioned_gib + d.gib, volumes = l.volumes + d.volumes, updated_at = now()
        FROM d WHERE l.host = d.host
        RETURNING l.host)
    INSERT INTO bs.capacity_ledger AS l (host, provisioned_gib, volumes)
    SELECT d.host, d.gib, d.volumes FROM d WHERE d.host NOT IN (SELECT u.host FROM u)
    ON CONFLICT (host) DO UPDATE
        SET provisioned_gib = l.provisioned_gib + EXCLUDED.provisioned_gib,
            volumes = l.volumes + EXCLUDED.volumes,
            updated_at = now()
$$;

-- Statement-level, with transition tables: a set-based assignment of 500 volumes is one ledger
-- update per host, not 500. SECURITY DEFINER so that the scheduler and the agents, which change
-- volumes, need no right on the ledger beyond reading (and locking) it.
CREATE FUNCTION bs.volumes_capacity_ledger() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_hosts text[];
    v_gib bigint[];
    v_volumes integer[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(n.host), array_agg(n.size_gib::bigint), array_agg(1)
        INTO v_hosts, v_gib, v_volumes
        FROM new_rows n WHERE bs.volume_holds_space(n.host, n.status);
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(o.host), array_agg(-o.size_gib::bigint), array_agg(-1)
        INTO v_hosts, v_gib, v_volumes
        FROM old_rows o WHERE bs.volume_holds_space(o.host, o.status);
    ELSE
        SELECT array_agg(d.host), array_agg(d.gib), array_agg(d.volumes)
        INTO v_hosts, v_gib, v_volumes
        FROM (
            SELECT n.host, n.size_gib::bigint AS gib, 1 AS volumes FROM new_rows n WHERE bs.volume_holds_space(n.host, n.status)
            UNION ALL
            SELECT o.host, -o.size_gib::bigint, -1 FROM old_rows o WHERE bs.volume_holds_space(o.host, o.status)
        ) d;
    END IF;
    IF v_hosts IS NOT NULL THEN
        PERFORM bs.capacity_ledger_add(v_hosts, v_gib, v_volumes);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER capacity_ledger_insert AFTER INSERT ON bs.volumes
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bs.volumes_capacity_ledger();
CREATE TRIGGER capacity_ledger_update AFTER UPDATE ON bs.volumes
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bs.volumes_capacity_ledger();
CREATE TRIGGER capacity_ledger_delete AFTER DELETE ON bs.volumes
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION bs.volumes_capacity_ledger();

-- Every volume host has its ledger row from registration on, so placement can lock it.
-- A change of disabled/frozen takes the host's ledger lock too: a scheduler batch that placed on
-- the host before the change commits first (and Disable-BlockVolumeService returns after it);
-- a batch after it sees the change. As strict as locking every service row was, without making
-- heartbeats wait for placement.
CREATE FUNCTION bs.services_capacity_ledger() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    INSERT INTO bs.capacity_ledger (host) VALUES (NEW.host) ON CONFLICT (host) DO NOTHING;
    IF TG_OP = 'UPDATE' THEN
        PERFORM 1 FROM bs.capacity_ledger l WHERE l.host = NEW.host FOR UPDATE;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER capacity_ledger_host AFTER INSERT ON bs.services
    FOR EACH ROW WHEN (NEW.service = 'volume') EXECUTE FUNCTION bs.services_capacity_ledger();
CREATE TRIGGER capacity_ledger_host_state AFTER UPDATE OF disabled, frozen ON bs.services
    FOR EACH ROW WHEN (NEW.service = 'volume' AND (OLD.disabled IS DISTINCT FROM NEW.disabled OR OLD.frozen IS DISTINCT FROM NEW.frozen))
    EXECUTE FUNCTION bs.services_capacity_ledger();

-- An existing database: the ledger from what is there now.
INSERT INTO bs.capacity_ledger (host, provisioned_gib, volumes)
SELECT host, provisioned_gib, volumes FROM bs.capacity_held;
INSERT INTO bs.capacity_ledger (host)
SELECT DISTINCT s.host FROM bs.services s WHERE s.service = 'volume'
ON CONFLICT (host) DO NOTHING;

-- Privileges. Nobody writes the ledger but the triggers (owner). The scheduler reads and locks
-- rows (FOR UPDATE needs an UPDATE right; its policy lets it change nothing).
REVOKE ALL ON bs.capacity_ledger FROM bs_operator;
GRANT SELECT ON bs.capacity_ledger, bs.capacity_held, bs.capacity_ledger_drift TO bs_operator, bs_reader, bs_scheduler;
GRANT UPDATE (updated_at) ON bs.capacity_ledger TO bs_scheduler;
GRANT SELECT ON bs.capacity_ledger TO bs_agent;
REVOKE EXECUTE ON FUNCTION bs.capacity_ledger_add(text[], bigint[], integer[]) FROM PUBLIC;

ALTER TABLE bs.capacity_ledger ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY migration ON bs.capacity_ledger TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY operator ON bs.capacity_ledger FOR SELECT TO bs_operator USING (true);
CREATE POLICY reader ON bs.capacity_ledger FOR SELECT TO bs_reader USING (true);
CREATE POLICY scheduler_read ON bs.capacity_ledger FOR SELECT TO bs_scheduler USING (true);
CREATE POLICY scheduler_lock ON bs.capacity_ledger FOR UPDATE TO bs_scheduler USING (true) WITH CHECK (false);
CREATE POLICY agent_own ON bs.capacity_ledger FOR SELECT TO bs_agent USING (host = (SELECT bs.current_host()));
