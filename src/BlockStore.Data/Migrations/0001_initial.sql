-- BlockStore schema, version 1: services, volumes, the operation queue, events, settings.
-- Applied by DbUp (journal: bs.schema_versions); every script runs once, in name order.

CREATE SCHEMA IF NOT EXISTS bs;

-- Cluster-wide settings read by every component, so the cmdlets and the scheduler agree on
-- what "down" means without sharing configuration files.
CREATE TABLE bs.settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO bs.settings (key, value) VALUES
    ('service_down_seconds', '60'),
    ('report_interval_seconds', '10');

-- One row per (host, service). The heartbeat is heartbeat_at = now() (database clock);
-- up/down is always computed from the database clock, never the caller's.
CREATE TABLE bs.services (
    id                         bigserial PRIMARY KEY,
    host                       text NOT NULL,
    service                    text NOT NULL CHECK (service IN ('scheduler', 'volume')),
    zone                       text NOT NULL DEFAULT 'nova',
    version                    text,
    started_at                 timestamptz,
    heartbeat_at               timestamptz,
    disabled                   boolean NOT NULL DEFAULT false,
    disabled_reason            text CHECK (disabled_reason IS NULL OR char_length(disabled_reason) BETWEEN 1 AND 255),
    frozen                     boolean NOT NULL DEFAULT false,
    log_level                  text NOT NULL DEFAULT 'Information',
    -- capacity report (volume services)
    backend_type               text CHECK (backend_type IS NULL OR backend_type IN ('thick', 'thin')),
    total_gib                  numeric(12, 2),
    free_gib                   numeric(12, 2),
    allocated_gib              numeric(12, 2),
    reserved_percentage        integer NOT NULL DEFAULT 0 CHECK (reserved_percentage BETWEEN 0 AND 100),
    max_over_subscription_ratio numeric(8, 2) NOT NULL DEFAULT 20,
    healthy                    boolean NOT NULL DEFAULT true,
    health_reason              text,
    capabilities               jsonb NOT NULL DEFAULT '{}'::jsonb,
    modified_at                timestamptz,
    modified_by                text,
    UNIQUE (host, service)
);

CREATE TABLE bs.volumes (
    id            uuid PRIMARY KEY,
    name          text NOT NULL,
    description   text,
    size_gib      integer NOT NULL CHECK (size_gib BETWEEN 1 AND 16384),
    status        text NOT NULL CHECK (status IN ('creating', 'available', 'deleting', 'deleted', 'error', 'error_deleting')),
    status_reason text,
    host          text,
    zone          text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    deleted_at    timestamptz,
    created_by    text NOT NULL DEFAULT current_user
);
-- Names are unique among live volumes only: a deleted volume's name can be used again.
CREATE UNIQUE INDEX volumes_live_name ON bs.volumes (name) WHERE status <> 'deleted';
CREATE INDEX volumes_host ON bs.volumes (host) WHERE status <> 'deleted';

-- The request queue. Kept small and hot: finished rows are the history, live rows are few.
CREATE TABLE bs.operations (
    id               bigserial PRIMARY KEY,
    volume_id        uuid NOT NULL REFERENCES bs.volumes (id),
    kind             text NOT NULL CHECK (kind IN ('create', 'delete')),
    stage            text NOT NULL CHECK (stage IN ('pending', 'scheduled', 'running', 'succeeded', 'failed', 'cancelled')),
    host             text,
    lease_owner      text,
    lease_expires_at timestamptz,
    attempts         integer NOT NULL DEFAULT 0,
    error            text,
    requested_by     text NOT NULL DEFAULT current_user,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);
CREATE INDEX operations_pending ON bs.operations (id) WHERE stage = 'pending';
CREATE INDEX operations_host_live ON bs.operations (host, id) WHERE stage IN ('scheduled', 'running');
CREATE INDEX operations_volume ON bs.operations (volume_id, id);

-- Every state change and failure, with who asked: the answer to "why is my volume in error".
CREATE TABLE bs.events (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    volume_id uuid,
    host      text,
    service   text,
    kind      text NOT NULL,
    message   text NOT NULL,
    actor     text NOT NULL DEFAULT current_user
);
CREATE INDEX events_volume ON bs.events (volume_id, id);

-- The down threshold, from settings, as one function every query uses.
CREATE FUNCTION bs.service_down_seconds() RETURNS integer
    LANGUAGE sql STABLE
    AS $$ SELECT coalesce((SELECT value::integer FROM bs.settings WHERE key = 'service_down_seconds'), 60) $$;
