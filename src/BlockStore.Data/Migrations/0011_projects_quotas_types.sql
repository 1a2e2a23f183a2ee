-- BlockStore schema, version 11: projects, volume types and quotas (issue 13).
--
-- Every volume belongs to a project (its snapshots, attachments and events through it) and has a
-- volume type. Quotas are Cinder's: per project, 'volumes', 'gigabytes' (volumes + snapshots) and
-- 'snapshots', over all types and per type, with defaults for projects that have no limit of
-- their own. A limit of -1 is no limit; out of the box every default is -1, so an upgraded
-- installation keeps working until an operator sets limits.
--
-- Quotas are enforced by the database, not by the client: BEFORE triggers on bs.volumes (insert,
-- growth) and bs.snapshots (insert) check the request in its own transaction and fail it with
-- SQLSTATE BSQ01 (mapped to ErrorId QuotaExceeded), so nothing is written. When a finite limit
-- applies, the check locks the project's row first and counts usage after the lock: concurrent
-- requests of one project are serialised and can never exceed a limit together. Projects without
-- finite limits take no lock at all (the bulk path stays as fast as before).

CREATE TABLE bs.projects (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    description text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL DEFAULT current_user,
    -- A removed project keeps its row (its volumes' history names it); its name is not used again.
    deleted_at  timestamptz
);
INSERT INTO bs.projects (name, description)
VALUES ('default', 'Volumes made before projects existed, and those requested without -Project.');

CREATE TABLE bs.volume_types (
    name        text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$'),
    description text,
    -- Cinder's extra specs: matched by the scheduler against what each host reports.
    extra_specs jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(extra_specs) = 'object'),
    is_default  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL DEFAULT current_user,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- Exactly one type is the default (Set-BlockVolumeType -Default moves the flag in one statement).
CREATE UNIQUE INDEX volume_types_one_default ON bs.volume_types (is_default) WHERE is_default;
INSERT INTO bs.volume_types (name, description, is_default)
VALUES ('default', 'Any volume host (no extra specs).', true);

-- Existing volumes land in the default project with the default type.
ALTER TABLE bs.volumes ADD COLUMN project text REFERENCES bs.projects (name);
ALTER TABLE bs.volumes ADD COLUMN volume_type text REFERENCES bs.volume_types (name);
ALTER TABLE bs.volumes DISABLE TRIGGER capacity_ledger_update; -- nothing about space changes here
UPDATE bs.volumes SET project = 'default', volume_type = 'default';
ALTER TABLE bs.volumes ENABLE TRIGGER capacity_ledger_update;
ALTER TABLE bs.volumes ALTER COLUMN project SET NOT NULL;
-- A removed type lets go of the deleted volumes that named it (their history keeps it in events).
ALTER TABLE bs.volumes ADD CONSTRAINT volumes_type_live CHECK (volume_type IS NOT NULL OR status = 'deleted');
CREATE INDEX volumes_project_live ON bs.volumes (project, volume_type) WHERE status <> 'deleted';
CREATE INDEX volumes_type_live ON bs.volumes (volume_type) WHERE status <> 'deleted';

CREATE TABLE bs.quotas (
    -- NULL: the default for every project without its own limit for this resource and type.
    project     text REFERENCES bs.projects (name),
    -- NULL: all volume types together.
    volume_type text REFERENCES bs.volume_types (name) ON DELETE CASCADE,
    resource    text NOT NULL CHECK (resource IN ('volumes', 'gigabytes', 'snapshots')),
    hard_limit  bigint NOT NULL CHECK (hard_limit >= -1),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  text NOT NULL DEFAULT current_user,
    UNIQUE NULLS NOT DISTINCT (project, volume_type, resource)
);
INSERT INTO bs.quotas (project, volume_type, resource, hard_limit)
VALUES (NULL, NULL, 'volumes', -1), (NULL, NULL, 'gigabytes', -1), (NULL, NULL, 'snapshots', -1);

-- What a project uses, per type and (volume_type NULL) in total. Cinder's rules: a volume counts
-- from the request until it is deleted (an 'error' volume keeps counting until it is removed), a
-- snapshot the same way, and gigabytes are the sizes of both. security_invoker: a reader sees the
-- usage of the rows it may see.
CREATE VIEW bs.quota_usage WITH (security_invoker = true) AS
SELECT u.project, u.volume_type,
       sum(u.volumes)::bigint AS volumes, sum(u.gigabytes)::bigint AS gigabytes, sum(u.snapshots)::bigint AS snapshots
FROM (
    SELECT v.project, v.volume_type, 1 AS volumes, v.size_gib::bigint AS gigabytes, 0 AS snapshots
    FROM bs.volumes v WHERE v.status <> 'deleted'
    UNION ALL
    SELECT v.project, v.volume_type, 0, s.size_gib::bigint, 1
    FROM bs.snapshots s JOIN bs.volumes v ON v.id = s.volume_id WHERE s.status <> 'deleted'
) u
GROUP BY GROUPING SETS ((u.project, u.volume_type), (u.project));

-- The limit that applies to a project for a resource and a type (NULL: all types): the project's
-- own, else the default, else none (-1).
CREATE FUNCTION bs.quota_limit(p_project text, p_type text, p_resource text) RETURNS bigint
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT coalesce(
        (SELECT q.hard_limit FROM bs.quotas q WHERE q.project = p_project AND q.volume_type IS NOT DISTINCT FROM p_type AND q.resource = p_resource),
        (SELECT q.hard_limit FROM bs.quotas q WHERE q.project IS NULL AND q.volume_type IS NOT DISTINCT FROM p_type AND q.resource = p_resource),
        -1)
$$;

-- Checks that adding p_volumes volumes, p_gib gigabytes and p_snapshots snapshots of type p_type
-- to p_project stays within every limit that applies (over all types and for the type); raises
-- BSQ01 naming the resource, the limit, what is in use and what was requested when it does not.
CREATE FUNCTION bs.quota_check(p_project text, p_type text, p_volumes integer, p_gib bigint, p_snapshots integer) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r record;
    v_in_use bigint;
    v_locked boolean := false;
BEGIN
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

-- The triggers: every path that makes or grows something (New-BlockVolume, from a snapshot, a
-- clone, Resize-BlockVolume, New-BlockVolumeSnapshot, and any other client of the database).
CREATE FUNCTION bs.volumes_quota() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.project := coalesce(NEW.project, 'default');
        NEW.volume_type := coalesce(NEW.volume_type, (SELECT t.name FROM bs.volume_types t WHERE t.is_default));
        -- The quota check first: when a limit applies it locks the project's row FOR UPDATE, and
        -- taking FOR SHARE before it would let two requests each hold SHARE and wait for the other's
        -- (a deadlock). FOR SHARE then (a no-op after FOR UPDATE): Remove-BlockStoreProject (FOR
        -- UPDATE) waits for the requests in flight, and a request after it sees the project removed;
        -- requests of a project without limits do not wait for each other.
        PERFORM bs.quota_check(NEW.project, NEW.volume_type, 1, NEW.size_gib, 0);
        IF NOT EXISTS (SELECT 1 FROM bs.projects p WHERE p.name = NEW.project AND p.deleted_at IS NULL FOR SHARE) THEN
            RAISE EXCEPTION USING ERRCODE = 'BSP01', MESSAGE = format('No project named %s.', NEW.project), DETAIL = NEW.project;
        END IF;
    ELSIF NEW.size_gib > OLD.size_gib THEN
        PERFORM bs.quota_check(NEW.project, NEW.volume_type, 0, (NEW.size_gib - OLD.size_gib)::bigint, 0);
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER quota_insert BEFORE INSERT ON bs.volumes FOR EACH ROW EXECUTE FUNCTION bs.volumes_quota();
CREATE TRIGGER quota_grow BEFORE UPDATE OF size_gib ON bs.volumes
    FOR EACH ROW WHEN (NEW.size_gib > OLD.size_gib) EXECUTE FUNCTION bs.volumes_quota();

CREATE FUNCTION bs.snapshots_quota() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_project text;
    v_type text;
BEGIN
    SELECT v.project, v.volume_type INTO v_project, v_type FROM bs.volumes v WHERE v.id = NEW.volume_id;
    PERFORM bs.quota_check(v_project, v_type, 0, NEW.size_gib::bigint, 1);
    RETURN NEW;
END $$;

CREATE TRIGGER quota_insert BEFORE INSERT ON bs.snapshots FOR EACH ROW EXECUTE FUNCTION bs.snapshots_quota();

-- Privileges. The operator manages projects, types and quotas (default privileges already grant
-- it DML on new tables); readers and the scheduler read them. Nobody but the owner's functions
-- changes quotas behind the operator's back.
GRANT SELECT ON bs.projects, bs.volume_types, bs.quotas, bs.quota_usage TO bs_reader;
GRANT SELECT ON bs.volume_types TO bs_scheduler, bs_agent;
GRANT SELECT ON bs.quota_usage TO bs_operator;
REVOKE EXECUTE ON FUNCTION bs.quota_check(text, text, integer, bigint, integer) FROM PUBLIC;
