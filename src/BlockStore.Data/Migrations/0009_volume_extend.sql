-- BlockStore schema, version 9: Resize-BlockVolume (issue 12, extend). A volume grows in place on
-- its host: status 'extending' while the agent runs lvextend, an 'extend' operation that remembers
-- the size before (from_size_gib), so a failed extend puts the volume back to that size (the ledger
-- follows by its trigger). The request locks the host's ledger row to check the room.
ALTER TABLE bs.volumes DROP CONSTRAINT volumes_status_check;
ALTER TABLE bs.volumes ADD CONSTRAINT volumes_status_check CHECK (status IN (
    'creating', 'available', 'deleting', 'deleted', 'error', 'error_deleting', 'attaching', 'in-use', 'detaching', 'extending'));

ALTER TABLE bs.operations DROP CONSTRAINT operations_kind_check;
ALTER TABLE bs.operations ADD CONSTRAINT operations_kind_check CHECK (kind IN ('create', 'delete', 'attach', 'detach', 'extend'));
ALTER TABLE bs.operations ADD COLUMN from_size_gib integer CHECK (from_size_gib IS NULL OR from_size_gib > 0);

-- The agent restores the size of a volume whose extend failed.
GRANT UPDATE (size_gib) ON bs.volumes TO bs_agent;

-- The operator's extend request locks the host's ledger row (as a scheduler does) and changes nothing in it.
GRANT UPDATE (updated_at) ON bs.capacity_ledger TO bs_operator;
CREATE POLICY operator_lock ON bs.capacity_ledger FOR UPDATE TO bs_operator USING (true) WITH CHECK (false);
