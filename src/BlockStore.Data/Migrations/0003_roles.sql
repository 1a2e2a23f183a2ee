-- BlockStore schema, version 3: least privilege. The database is the control plane's API, so
-- every component gets its own role and sees only what it needs:
--
--   (migration user)  owns the schema and the tables; used by migrations only.
--   bs_operator       the state-changing cmdlets (New/Remove-BlockVolume, Set-BlockVolumeService, ...).
--   bs_reader         the Get-* cmdlets: reads everything except secrets, changes nothing.
--   bs_scheduler      places pending operations; cannot run them (no leases, no final stages).
--   bs_agent          group of the per-host login roles (bs_agent_<host>, made by Register-BlockVolumeHost):
--                     a host sees and changes only its own service row, operations and volumes.
--   bs_host_admin     NOLOGIN, CREATEROLE: owns the two SECURITY DEFINER functions that create and
--                     drop host roles, so the operator needs no CREATEROLE itself.
--
-- Group roles are NOLOGIN; people and processes log in with their own roles that are members
-- (events then record the person, not the group). Host identity comes from the login role
-- (current_user) mapped to a host in bs.host_roles, never from a setting a client can change.
-- Roles are cluster-wide: they are created only when missing, so several BlockStore databases
-- in one cluster share them (grants and policies are per database).

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['bs_operator', 'bs_reader', 'bs_scheduler', 'bs_agent', 'bs_host_admin'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL; -- another database of this cluster was migrated at the same moment
            END;
        END IF;
    END LOOP;

    -- A group role that bypasses row-level security would void everything below: refuse.
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles
               WHERE rolname IN ('bs_operator', 'bs_reader', 'bs_scheduler', 'bs_agent', 'bs_host_admin')
                 AND (rolsuper OR rolbypassrls)) THEN
        RAISE EXCEPTION 'a BlockStore group role is SUPERUSER or BYPASSRLS; fix it before migrating';
    END IF;
END $$;

-- bs_host_admin needs CREATEROLE, and pg_signal_backend to end an unregistered host's open
-- sessions. Both are cluster-wide catalog rows: changed only when missing, and a concurrent
-- migration of another database that changed them first ("tuple concurrently updated") is fine.
-- Without the right to grant pg_signal_backend (a non-superuser migration user), unregistering
-- still revokes everything; the host's open sessions then see nothing until they end.
DO $$
BEGIN
    IF NOT (SELECT rolcreaterole FROM pg_catalog.pg_roles WHERE rolname = 'bs_host_admin') THEN
        BEGIN
            ALTER ROLE bs_host_admin CREATEROLE;
        EXCEPTION WHEN OTHERS THEN
            IF NOT (SELECT rolcreaterole FROM pg_catalog.pg_roles WHERE rolname = 'bs_host_admin') THEN
                RAISE;
            END IF;
        END;
    END IF;
    IF NOT pg_catalog.pg_has_role('bs_host_admin', 'pg_signal_backend', 'MEMBER') THEN
        BEGIN
            GRANT pg_signal_backend TO bs_host_admin;
        EXCEPTION WHEN insufficient_privilege OR invalid_grant_operation THEN
            RAISE NOTICE 'cannot grant pg_signal_backend to bs_host_admin: unregistered hosts keep open sessions until they end';
        WHEN OTHERS THEN
            IF NOT pg_catalog.pg_has_role('bs_host_admin', 'pg_signal_backend', 'MEMBER') THEN
                RAISE;
            END IF;
        END;
    END IF;
END $$;

-- No runtime role can create anything: no DDL in our schema nor in public.
REVOKE ALL ON SCHEMA bs FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA bs TO bs_operator, bs_reader, bs_scheduler, bs_agent, bs_host_admin;

-- Host identity: which login role is which volume host. Written only by bs.register_host and
-- bs.unregister_host (SECURITY DEFINER), read by the policies through bs.current_host().
CREATE TABLE bs.host_roles (
    role       text PRIMARY KEY,
    host       text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text NOT NULL DEFAULT session_user
);

-- The host of the calling login role, or NULL for every other role. SECURITY INVOKER on
-- purpose: inside a SECURITY DEFINER function current_user would be the owner, not the caller.
CREATE FUNCTION bs.current_host() RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT h.host FROM bs.host_roles h WHERE h.role = current_user $$;

-- The login role name of a host: derived, never chosen by the caller, so an operator cannot
-- make the function create or drop an arbitrary role. Long names keep a hash to stay unique.
CREATE FUNCTION bs.host_role_name(p_host text) RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT CASE WHEN length('bs_agent_' || p_host) <= 63 THEN 'bs_agent_' || p_host
                      ELSE 'bs_agent_' || left(p_host, 45) || '_' || left(md5(p_host), 8) END $$;

-- ---------------------------------------------------------------------------------------------
-- Table privileges. Column lists where a role may change only some columns.
-- ---------------------------------------------------------------------------------------------

-- The operator is the trusted, state-changing role: full DML on the queue and inventory tables
-- (tables added by earlier scripts included), never DDL, never host identities.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA bs TO bs_operator;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA bs TO bs_operator;
REVOKE INSERT, UPDATE, DELETE ON bs.host_roles FROM bs_operator;
-- Events are the audit trail ("who disabled node3 and why"): append-only for everyone.
REVOKE UPDATE, DELETE ON bs.events FROM bs_operator;
-- Tables that later scripts add: usable by the operator at once; other roles get explicit
-- grants and policies in the script that adds the table.
ALTER DEFAULT PRIVILEGES IN SCHEMA bs GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO bs_operator;
ALTER DEFAULT PRIVILEGES IN SCHEMA bs GRANT USAGE, SELECT ON SEQUENCES TO bs_operator;

GRANT SELECT ON bs.settings, bs.services, bs.volumes, bs.operations, bs.events, bs.host_roles TO bs_reader;

GRANT SELECT ON bs.settings, bs.services, bs.volumes, bs.operations TO bs_scheduler;
GRANT INSERT (host, service, zone, version, started_at, heartbeat_at) ON bs.services TO bs_scheduler;
GRANT UPDATE (zone, version, started_at, heartbeat_at) ON bs.services TO bs_scheduler;
GRANT UPDATE (host, zone, status, status_reason, updated_at) ON bs.volumes TO bs_scheduler;
GRANT UPDATE (stage, host, error, finished_at, updated_at) ON bs.operations TO bs_scheduler;
GRANT INSERT (volume_id, host, service, kind, message) ON bs.events TO bs_scheduler;
GRANT USAGE ON SEQUENCE bs.services_id_seq, bs.events_id_seq TO bs_scheduler;

-- Agents: their own rows only (policies below), and only the columns a host reports. They can
-- neither enable, disable, freeze nor re-assign anything, nor insert operations.
GRANT SELECT ON bs.settings, bs.services, bs.volumes, bs.operations, bs.host_roles TO bs_agent;
GRANT INSERT (host, service, zone, version, started_at, heartbeat_at) ON bs.services TO bs_agent;
GRANT UPDATE (zone, version, started_at, heartbeat_at, backend_type, total_gib, free_gib, allocated_gib,
              healthy, health_reason, reserved_percentage, max_over_subscription_ratio, capabilities) ON bs.services TO bs_agent;
GRANT UPDATE (status, status_reason, updated_at, deleted_at) ON bs.volumes TO bs_agent;
GRANT UPDATE (stage, lease_owner, lease_expires_at, attempts, error, finished_at, updated_at) ON bs.operations TO bs_agent;
GRANT INSERT (volume_id, host, service, kind, message) ON bs.events TO bs_agent;
GRANT USAGE ON SEQUENCE bs.services_id_seq, bs.events_id_seq TO bs_agent;

GRANT SELECT, INSERT, DELETE ON bs.host_roles TO bs_host_admin;
GRANT SELECT, UPDATE (disabled, disabled_reason, modified_at, modified_by) ON bs.services TO bs_host_admin;
GRANT INSERT (host, service, kind, message, actor) ON bs.events TO bs_host_admin;
GRANT USAGE ON SEQUENCE bs.events_id_seq TO bs_host_admin;

-- The migrator of a runtime role checks that the schema is current without changing it.
GRANT SELECT ON public.blockstore_schema_versions TO bs_operator, bs_reader, bs_scheduler, bs_agent;

-- ---------------------------------------------------------------------------------------------
-- Row-level security. FORCE so that not even the table owner is exempt by accident; the owner
-- (migration user) gets an explicit policy for data migrations. Roles without a policy see
-- nothing (default deny). FOR UPDATE locks apply the UPDATE policies' USING clause.
-- ---------------------------------------------------------------------------------------------

ALTER TABLE bs.services   ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE bs.volumes    ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE bs.operations ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE bs.events     ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE bs.host_roles ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;

CREATE POLICY migration ON bs.services   TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY migration ON bs.volumes    TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY migration ON bs.operations TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY migration ON bs.events     TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY migration ON bs.host_roles TO CURRENT_USER USING (true) WITH CHECK (true);

-- Operator: everything (column grants and the state machine in code still apply).
CREATE POLICY operator ON bs.services   TO bs_operator USING (true) WITH CHECK (true);
CREATE POLICY operator ON bs.volumes    TO bs_operator USING (true) WITH CHECK (true);
CREATE POLICY operator ON bs.operations TO bs_operator USING (true) WITH CHECK (true);
CREATE POLICY operator ON bs.events     TO bs_operator USING (true) WITH CHECK (actor = current_user);
CREATE POLICY operator ON bs.host_roles FOR SELECT TO bs_operator USING (true);

-- Reader: read everything (it has no write privilege at all).
CREATE POLICY reader ON bs.services   FOR SELECT TO bs_reader USING (true);
CREATE POLICY reader ON bs.volumes    FOR SELECT TO bs_reader USING (true);
CREATE POLICY reader ON bs.operations FOR SELECT TO bs_reader USING (true);
CREATE POLICY reader ON bs.events     FOR SELECT TO bs_reader USING (true);
CREATE POLICY reader ON bs.host_roles FOR SELECT TO bs_reader USING (true);

-- Scheduler: reads every service row and locks the volume rows (FOR UPDATE, hence USING true
-- on UPDATE) to serialise placement, but the only service row it may change is a scheduler's.
CREATE POLICY scheduler_read   ON bs.services FOR SELECT TO bs_scheduler USING (true);
CREATE POLICY scheduler_insert ON bs.services FOR INSERT TO bs_scheduler WITH CHECK (service = 'scheduler');
CREATE POLICY scheduler_update ON bs.services FOR UPDATE TO bs_scheduler USING (true) WITH CHECK (service = 'scheduler');
-- It places volumes that are still being created, or fails them; it cannot make them available or deleted.
CREATE POLICY scheduler_read   ON bs.volumes FOR SELECT TO bs_scheduler USING (true);
CREATE POLICY scheduler_place  ON bs.volumes FOR UPDATE TO bs_scheduler
    USING (status = 'creating') WITH CHECK (status IN ('creating', 'error'));
-- It takes pending operations and makes them scheduled (placed) or failed (no host); running
-- them (leases, running, succeeded) is the host's alone: it has no grant on the lease columns.
CREATE POLICY scheduler_read   ON bs.operations FOR SELECT TO bs_scheduler USING (true);
CREATE POLICY scheduler_place  ON bs.operations FOR UPDATE TO bs_scheduler
    USING (stage = 'pending') WITH CHECK (stage IN ('pending', 'scheduled', 'failed'));
CREATE POLICY scheduler_insert ON bs.events FOR INSERT TO bs_scheduler WITH CHECK (actor = current_user);

-- Agents: their own host, identified by the login role. (SELECT bs.current_host()) runs once per query.
CREATE POLICY agent_own ON bs.services FOR SELECT TO bs_agent
    USING (service = 'volume' AND host = (SELECT bs.current_host()));
CREATE POLICY agent_register ON bs.services FOR INSERT TO bs_agent
    WITH CHECK (service = 'volume' AND host = (SELECT bs.current_host()));
CREATE POLICY agent_report ON bs.services FOR UPDATE TO bs_agent
    USING (service = 'volume' AND host = (SELECT bs.current_host()))
    WITH CHECK (service = 'volume' AND host = (SELECT bs.current_host()));

CREATE POLICY agent_own ON bs.volumes FOR SELECT TO bs_agent USING (host = (SELECT bs.current_host()));
CREATE POLICY agent_status ON bs.volumes FOR UPDATE TO bs_agent
    USING (host = (SELECT bs.current_host())) WITH CHECK (host = (SELECT bs.current_host()));

CREATE POLICY agent_own ON bs.operations FOR SELECT TO bs_agent USING (host = (SELECT bs.current_host()));
CREATE POLICY agent_run ON bs.operations FOR UPDATE TO bs_agent
    USING (host = (SELECT bs.current_host()))
    WITH CHECK (host = (SELECT bs.current_host()) AND stage IN ('scheduled', 'running', 'succeeded', 'failed'));

CREATE POLICY agent_insert ON bs.events FOR INSERT TO bs_agent
    WITH CHECK (host = (SELECT bs.current_host()) AND actor = current_user);

CREATE POLICY agent_self ON bs.host_roles FOR SELECT TO bs_agent USING (role = current_user);

-- bs_host_admin: only what its two functions do.
CREATE POLICY host_admin ON bs.host_roles TO bs_host_admin USING (true) WITH CHECK (true);
CREATE POLICY host_admin_read ON bs.services FOR SELECT TO bs_host_admin USING (service = 'volume');
CREATE POLICY host_admin_disable ON bs.services FOR UPDATE TO bs_host_admin
    USING (service = 'volume') WITH CHECK (service = 'volume' AND disabled);
CREATE POLICY host_admin_insert ON bs.events FOR INSERT TO bs_host_admin WITH CHECK (actor = session_user);

-- ---------------------------------------------------------------------------------------------
-- The two narrow SECURITY DEFINER entry points for onboarding and removing a volume host.
-- Pinned search_path; every name schema-qualified; the caller (session_user) is the actor.
-- ---------------------------------------------------------------------------------------------

-- Creates the host's login role (member of bs_agent) or, when the host is registered already,
-- gives it a new password. Takes a SCRAM-SHA-256 verifier, never a plain password: the secret
-- itself never reaches the server, its logs or pg_stat_activity. Returns the role name.
CREATE FUNCTION bs.register_host(p_host text, p_password_verifier text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_role text := bs.host_role_name(p_host);
    v_existing text;
BEGIN
    IF p_host IS NULL OR p_host !~ '^[a-z0-9][a-z0-9.-]{0,62}$' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('Host name %L is not valid: use 1-63 lower-case letters, digits, ''.'' and ''-''.', p_host);
    END IF;
    IF p_password_verifier IS NULL OR p_password_verifier !~ '^SCRAM-SHA-256[$][0-9]+:[A-Za-z0-9+/=]+[$][A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'A SCRAM-SHA-256 password verifier is required (never a plain password).';
    END IF;

    SELECT h.role INTO v_existing FROM bs.host_roles h WHERE h.host = p_host;
    IF v_existing IS NULL THEN
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = v_role) THEN
            RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
                MESSAGE = format('Role %I exists but is not the registered role of host %s in this database '
                                 '(another BlockStore database in this cluster?). Not touching it.', v_role, p_host);
        END IF;
        EXECUTE format('CREATE ROLE %I LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS '
                       'CONNECTION LIMIT 32 PASSWORD %L IN ROLE bs_agent', v_role, p_password_verifier);
        INSERT INTO bs.host_roles (role, host, created_by) VALUES (v_role, p_host, session_user);
        INSERT INTO bs.events (host, service, kind, message, actor)
        VALUES (p_host, 'volume', 'host-registered', format('volume host %s registered with database role %s', p_host, v_role), session_user);
    ELSE
        EXECUTE format('ALTER ROLE %I LOGIN PASSWORD %L', v_existing, p_password_verifier);
        INSERT INTO bs.events (host, service, kind, message, actor)
        VALUES (p_host, 'volume', 'host-credentials-rotated', format('volume host %s: new password for database role %s', p_host, v_existing), session_user);
        v_role := v_existing;
    END IF;
    RETURN v_role;
END $$;

-- Revokes a host: its mapping goes first (from then on its role sees nothing), its volume
-- service is disabled so nothing more is placed there, its sessions end and its role is dropped.
-- Returns the dropped role, or NULL when the host was not registered.
CREATE FUNCTION bs.unregister_host(p_host text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_role text;
BEGIN
    DELETE FROM bs.host_roles h WHERE h.host = p_host RETURNING h.role INTO v_role;
    IF v_role IS NULL THEN
        RETURN NULL;
    END IF;
    UPDATE bs.services s SET disabled = true, disabled_reason = 'host unregistered', modified_at = now(), modified_by = session_user
    WHERE s.host = p_host AND s.service = 'volume' AND NOT s.disabled;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = v_role) THEN
        EXECUTE format('ALTER ROLE %I NOLOGIN', v_role);
        BEGIN
            PERFORM pg_catalog.pg_terminate_backend(a.pid) FROM pg_catalog.pg_stat_activity a WHERE a.usename = v_role;
        EXCEPTION WHEN insufficient_privilege THEN
            NULL; -- without pg_signal_backend its open sessions end on their own; they see nothing now
        END;
        EXECUTE format('DROP ROLE %I', v_role);
    END IF;
    INSERT INTO bs.events (host, service, kind, message, actor)
    VALUES (p_host, 'volume', 'host-unregistered', format('volume host %s unregistered; database role %s dropped', p_host, v_role), session_user);
    PERFORM pg_catalog.pg_notify('bs_control', p_host || '/volume');
    RETURN v_role;
END $$;

ALTER FUNCTION bs.register_host(text, text) OWNER TO bs_host_admin;
ALTER FUNCTION bs.unregister_host(text) OWNER TO bs_host_admin;
REVOKE EXECUTE ON FUNCTION bs.register_host(text, text), bs.unregister_host(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bs.register_host(text, text), bs.unregister_host(text) TO bs_operator;
