-- BlockStore schema, version 2: iSCSI attachments (volume exported to one initiator through LIO).

-- Volumes: may several initiators attach at once (Cinder's multiattach), and the attach statuses.
ALTER TABLE bs.volumes ADD COLUMN multiattach boolean NOT NULL DEFAULT false;
ALTER TABLE bs.volumes DROP CONSTRAINT volumes_status_check;
ALTER TABLE bs.volumes ADD CONSTRAINT volumes_status_check CHECK (status IN (
    'creating', 'available', 'deleting', 'deleted', 'error', 'error_deleting', 'attaching', 'in-use', 'detaching'));

-- One attachment = one initiator's access to one volume. The target, LUN and portal are what the
-- agent built; they are filled in when the attachment is attached.
CREATE TABLE bs.attachments (
    id             uuid PRIMARY KEY,
    volume_id      uuid NOT NULL REFERENCES bs.volumes (id),
    host           text NOT NULL,
    initiator_iqn  text NOT NULL,
    status         text NOT NULL CHECK (status IN ('attaching', 'attached', 'detaching', 'detached', 'error')),
    status_reason  text,
    target_iqn     text,
    target_portal  text,
    target_lun     integer,
    auth_method    text NOT NULL DEFAULT 'CHAP' CHECK (auth_method IN ('CHAP')),
    auth_username  text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    detached_at    timestamptz,
    created_by     text NOT NULL DEFAULT current_user
);
-- An initiator has at most one live attachment per volume (IQNs compare case-insensitively, as LIO does).
CREATE UNIQUE INDEX attachments_live ON bs.attachments (volume_id, lower(initiator_iqn)) WHERE status <> 'detached';
CREATE INDEX attachments_host_live ON bs.attachments (host) WHERE status <> 'detached';

-- The CHAP secret lives in its own table so that access to it can be granted separately (only the
-- volume's agent and the operator read it): it never goes into events, notifications, or the
-- columns the attachment listing reads.
CREATE TABLE bs.attachment_secrets (
    attachment_id uuid PRIMARY KEY REFERENCES bs.attachments (id),
    auth_secret   text NOT NULL
);

-- Operations: attach and detach, each for one attachment.
ALTER TABLE bs.operations DROP CONSTRAINT operations_kind_check;
ALTER TABLE bs.operations ADD CONSTRAINT operations_kind_check CHECK (kind IN ('create', 'delete', 'attach', 'detach'));
ALTER TABLE bs.operations ADD COLUMN attachment_id uuid REFERENCES bs.attachments (id);
ALTER TABLE bs.operations ADD CONSTRAINT operations_attachment_kind CHECK ((kind IN ('attach', 'detach')) = (attachment_id IS NOT NULL));
