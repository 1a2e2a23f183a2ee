-- BlockStore schema, version 10: volume snapshots (issue 12). A snapshot lives on its volume's
-- host as the LV _snapshot-<uuid> (LVM reserves names starting with "snapshot"; Cinder's LVM driver
-- escapes them the same way). Its own status (creating -> available -> deleting -> deleted, error,
-- error_deleting); the volume's status is not changed by it. Its operations go straight to the
-- volume's host ('scheduled', no placement) and queue behind the volume's other operations.
CREATE TABLE bs.snapshots (
    id            uuid PRIMARY KEY,
    volume_id     uuid NOT NULL REFERENCES bs.volumes (id),
    name          text NOT NULL,
    description   text,
    size_gib      integer NOT NULL CHECK (size_gib BETWEEN 1 AND 16384),
    status        text NOT NULL CHECK (status IN ('creating', 'available', 'deleting', 'deleted', 'error', 'error_deleting')),
    status_reason text,
    host          text NOT NULL,
    -- The host's backend when the snapshot was asked for: a thick (COW) snapshot holds space.
    backend_type  text NOT NULL CHECK (backend_type IN ('thick', 'thin')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    deleted_at    timestamptz,
    created_by    text NOT NULL DEFAULT current_user
);
-- A name is unique among a volume's snapshots that are not deleted.
CREATE UNIQUE INDEX snapshots_live_name ON bs.snapshots (volume_id, name) WHERE status <> 'deleted';
CREATE INDEX snapshots_volume ON bs.snapshots (volume_id) WHERE status <> 'deleted';
CREATE INDEX snapshots_host ON bs.snapshots (host) WHERE status <> 'deleted';

ALTER TABLE bs.operations DROP CONSTRAINT operations_kind_check;
ALTER TABLE bs.operations ADD CONSTRAINT operations_kind_check CHECK (kind IN (
    'create', 'delete', 'attach', 'detach', 'extend', 'snapshot-create', 'snapshot-delete', 'revert'));
ALTER TABLE bs.operations ADD COLUMN snapshot_id uuid REFERENCES bs.snapshots (id);
ALTER TABLE bs.operations ADD CONSTRAINT operations_snapshot_kind CHECK ((kind IN ('snapshot-create', 'snapshot-delete', 'revert')) = (snapshot_id IS NOT NULL));

-- Restore-BlockVolume: the volume is 'reverting' while its agent merges the snapshot back.
ALTER TABLE bs.volumes DROP CONSTRAINT volumes_status_check;
ALTER TABLE bs.volumes ADD CONSTRAINT volumes_status_check CHECK (status IN (
    'creating', 'available', 'deleting', 'deleted', 'error', 'error_deleting', 'attaching', 'in-use', 'detaching', 'extending', 'reverting'));
CREATE INDEX operations_snapshot ON bs.operations (snapshot_id) WHERE snapshot_id IS NOT NULL;

-- A volume made from a snapshot (New-BlockVolume -SnapshotId): created on the snapshot's host by
-- its agent (no placement), from that snapshot. The volume keeps where it came from.
ALTER TABLE bs.volumes ADD COLUMN source_snapshot_id uuid REFERENCES bs.snapshots (id);
ALTER TABLE bs.operations ADD COLUMN source_snapshot_id uuid REFERENCES bs.snapshots (id);
ALTER TABLE bs.operations ADD CONSTRAINT operations_source_snapshot_kind CHECK (source_snapshot_id IS NULL OR kind = 'create');
CREATE INDEX operations_source_snapshot ON bs.operations (source_snapshot_id) WHERE source_snapshot_id IS NOT NULL;

-- A clone (New-BlockVolume -SourceVolumeId): made the same way from another volume, on its host.
ALTER TABLE bs.volumes ADD COLUMN source_volume_id uuid REFERENCES bs.volumes (id);
ALTER TABLE bs.operations ADD COLUMN source_volume_id uuid REFERENCES bs.volumes (id);
ALTER TABLE bs.operations ADD CONSTRAINT operations_source_volume_kind CHECK (source_volume_id IS NULL OR (kind = 'create' AND source_snapshot_id IS NULL));
CREATE INDEX operations_source_volume ON bs.operations (source_volume_id) WHERE source_volume_id IS NOT NULL;

-- The capacity ledger (0008) learns about snapshots: a thick snapshot holds its size on the host
-- (LVM sets aside a COW area as large as the origin) from the request until it is deleted or
-- failed; a thin one shares the pool, whose over-subscription the origin's size already counts.
-- Core's SnapshotStatus.HoldsSpace says the same (a data test compares them).
CREATE FUNCTION bs.snapshot_holds_space(p_backend text, p_status text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT p_backend = 'thick' AND p_status NOT IN ('deleted', 'error') $$;

CREATE OR REPLACE VIEW bs.capacity_held AS
SELECT h.host, sum(h.gib)::bigint AS provisioned_gib, sum(h.volumes)::integer AS volumes
FROM (
    SELECT v.host, v.size_gib::bigint AS gib, 1 AS volumes
    FROM bs.volumes v WHERE bs.volume_holds_space(v.host, v.status)
    UNION ALL
    SELECT s.host, s.size_gib::bigint, 0
    FROM bs.snapshots s WHERE bs.snapshot_holds_space(s.backend_type, s.status)
) h
GROUP BY h.host;

CREATE FUNCTION bs.snapshots_capacity_ledger() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_hosts text[];
    v_gib bigint[];
    v_volumes integer[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(n.host), array_agg(n.size_gib::bigint), array_agg(0)
        INTO v_hosts, v_gib, v_volumes
        FROM new_rows n WHERE bs.snapshot_holds_space(n.backend_type, n.status);
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(o.host), array_agg(-o.size_gib::bigint), array_agg(0)
        INTO v_hosts, v_gib, v_volumes
        FROM old_rows o WHERE bs.snapshot_holds_space(o.backend_type, o.status);
    ELSE
        SELECT array_agg(d.host), array_agg(d.gib), array_agg(0)
        INTO v_hosts, v_gib, v_volumes
        FROM (
            SELECT n.host, n.size_gib::bigint AS gib FROM new_rows n WHERE bs.snapshot_holds_space(n.backend_type, n.status)
            UNION ALL
            SELECT o.host, -o.size_gib::bigint FROM old_rows o WHERE bs.snapshot_holds_space(o.backend_type, o.status)
        ) d;
    END IF;
    IF v_hosts IS NOT NULL THEN
        PERFORM bs.capacity_ledger_add(v_hosts, v_gib, v_volumes);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER capacity_ledger_insert AFTER INSERT ON bs.snapshots
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bs.snapshots_capacity_ledger();
CREATE TRIGGER capacity_ledger_update AFTER UPDATE ON bs.snapshots
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bs.snapshots_capacity_ledger();
CREATE TRIGGER capacity_ledger_delete AFTER DELETE ON bs.snapshots
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION bs.snapshots_capacity_ledger();

-- Privileges and row-level security, as for volumes (0003): the operator asks, readers read, an
-- agent sees and settles only its own host's snapshots. The scheduler has nothing to place.
GRANT SELECT ON bs.snapshots TO bs_reader, bs_agent, bs_scheduler;
GRANT UPDATE (status, status_reason, updated_at, deleted_at) ON bs.snapshots TO bs_agent;
GRANT SELECT ON bs.capacity_held, bs.capacity_ledger_drift TO bs_operator, bs_reader, bs_scheduler;

ALTER TABLE bs.snapshots ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY migration ON bs.snapshots TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY operator ON bs.snapshots TO bs_operator USING (true) WITH CHECK (true);
CREATE POLICY reader ON bs.snapshots FOR SELECT TO bs_reader USING (true);
CREATE POLICY scheduler_read ON bs.snapshots FOR SELECT TO bs_scheduler USING (true);
CREATE POLICY agent_own ON bs.snapshots FOR SELECT TO bs_agent USING (host = (SELECT bs.current_host()));
CREATE POLICY agent_status ON bs.snapshots FOR UPDATE TO bs_agent
    USING (host = (SELECT bs.current_host())) WITH CHECK (host = (SELECT bs.current_host()));
