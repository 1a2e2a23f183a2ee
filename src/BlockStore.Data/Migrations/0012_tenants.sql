-- BlockStore schema, version 12: tenant logins (issue 13). A project's tenant login role (made by
-- Register-BlockStoreTenant through bs.register_tenant, as hosts are onboarded) is a member of
-- bs_tenant. Its project is derived from current_user (bs.tenant_roles, written only by the
-- SECURITY DEFINER functions), never from anything the session can set. Row-level security lets
-- it see and change only its own project's volumes, their operations, snapshots, attachments
-- (CHAP secrets included), events, its own quota lines (and the defaults that apply to it) and its
-- own project row. It cannot change a quota, a project, a type or a service.
--
-- What stays shared: volume types (a catalogue), the settings, and the service rows with the
-- capacity ledger (requests read them to check a scheduler is up and a host's room; they hold no
-- project's data). Placement and capacity rules are the module's: a tenant writing raw SQL stays
-- inside its project and its quota (both enforced here), not inside every placement rule.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'bs_tenant') THEN
        BEGIN
            CREATE ROLE bs_tenant NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL; -- another database of this cluster was migrated at the same moment
        END;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'bs_tenant' AND (rolsuper OR rolbypassrls)) THEN
        RAISE EXCEPTION 'bs_tenant is SUPERUSER or BYPASSRLS; fix it before migrating';
    END IF;
END $$;

GRANT USAGE ON SCHEMA bs TO bs_tenant;
GRANT SELECT ON public.blockstore_schema_versions TO bs_tenant;

-- Tenant identity: which login role is which project's. One tenant login per project.
CREATE TABLE bs.tenant_roles (
    role       text PRIMARY KEY,
    project    text NOT NULL UNIQUE REFERENCES bs.projects (name),
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text NOT NULL DEFAULT session_user
);

-- The project of the calling login role, or NULL for every other role (SECURITY INVOKER, as
-- bs.current_host: inside a SECURITY DEFINER function current_user would be the owner).
CREATE FUNCTION bs.current_project() RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT t.project FROM bs.tenant_roles t WHERE t.role = current_user $$;

CREATE FUNCTION bs.tenant_role_name(p_project text) RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT CASE WHEN length('bs_tenant_' || p_project) <= 63 THEN 'bs_tenant_' || p_project
                      ELSE 'bs_tenant_' || left(p_project, 44) || '_' || left(md5(p_project), 8) END $$;

-- A volume a tenant requests without a project is its own project's (the operator's default is 'default').
CREATE OR REPLACE FUNCTION bs.volumes_quota() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.project := coalesce(NEW.project, (SELECT t.project FROM bs.tenant_roles t WHERE t.role = session_user), 'default');
        NEW.volume_type := coalesce(NEW.volume_type, (SELECT t.name FROM bs.volume_types t WHERE t.is_default));
        -- The quota check first (it may lock the project's row FOR UPDATE), then FOR SHARE: see 0011.
        PERFORM bs.quota_check(NEW.project, NEW.volume_type, 1, NEW.size_gib, 0);
        IF NOT EXISTS (SELECT 1 FROM bs.projects p WHERE p.name = NEW.project AND p.deleted_at IS NULL FOR SHARE) THEN
            RAISE EXCEPTION USING ERRCODE = 'BSP01', MESSAGE = format('No project named %s.', NEW.project), DETAIL = NEW.project;
        END IF;
    ELSIF NEW.size_gib > OLD.size_gib THEN
        PERFORM bs.quota_check(NEW.project, NEW.volume_type, 0, (NEW.size_gib - OLD.size_gib)::bigint, 0);
    END IF;
    RETURN NEW;
END $$;

-- Creates the project's tenant login (member of bs_tenant) from a SCRAM-SHA-256 verifier, or gives
-- it a new password when it exists. Returns the role name.
CREATE FUNCTION bs.register_tenant(p_project text, p_password_verifier text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_role text := bs.tenant_role_name(p_project);
    v_existing text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM bs.projects p WHERE p.name = p_project AND p.deleted_at IS NULL) THEN
        RAISE EXCEPTION USING ERRCODE = 'BSP01', MESSAGE = format('No project named %s.', p_project), DETAIL = p_project;
    END IF;
    IF p_password_verifier IS NULL OR p_password_verifier !~ '^SCRAM-SHA-256[$][0-9]+:[A-Za-z0-9+/=]+[$][A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'A SCRAM-SHA-256 password verifier is required (never a plain password).';
    END IF;

    SELECT t.role INTO v_existing FROM bs.tenant_roles t WHERE t.project = p_project;
    IF v_existing IS NULL THEN
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = v_role) THEN
            RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
                MESSAGE = format('Role %I exists but is not the tenant role of project %s in this database '
                                 '(another BlockStore database in this cluster?). Not touching it.', v_role, p_project);
        END IF;
        EXECUTE format('CREATE ROLE %I LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS '
                       'CONNECTION LIMIT 32 PASSWORD %L IN ROLE bs_tenant', v_role, p_password_verifier);
        INSERT INTO bs.tenant_roles (role, project, created_by) VALUES (v_role, p_project, session_user);
    ELSE
        EXECUTE format('ALTER ROLE %I LOGIN PASSWORD %L', v_existing, p_password_verifier);
        v_role := v_existing;
    END IF;
    RETURN v_role;
END $$;

-- Drops a project's tenant login (its sessions end); returns the role, or NULL when there was none.
CREATE FUNCTION bs.unregister_tenant(p_project text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_role text;
BEGIN
    DELETE FROM bs.tenant_roles t WHERE t.project = p_project RETURNING t.role INTO v_role;
    IF v_role IS NULL THEN
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = v_role) THEN
        EXECUTE format('ALTER ROLE %I NOLOGIN', v_role);
        BEGIN
            PERFORM pg_catalog.pg_terminate_backend(a.pid) FROM pg_catalog.pg_stat_activity a WHERE a.usename = v_role;
        EXCEPTION WHEN insufficient_privilege THEN
            NULL;
        END;
        EXECUTE format('DROP ROLE %I', v_role);
    END IF;
    RETURN v_role;
END $$;

-- bs_host_admin (CREATEROLE, 0003) owns the two functions, as it owns the host ones.
GRANT SELECT ON bs.projects TO bs_host_admin;
GRANT SELECT, INSERT, DELETE ON bs.tenant_roles TO bs_host_admin;
ALTER FUNCTION bs.register_tenant(text, text) OWNER TO bs_host_admin;
ALTER FUNCTION bs.unregister_tenant(text) OWNER TO bs_host_admin;
REVOKE EXECUTE ON FUNCTION bs.register_tenant(text, text), bs.unregister_tenant(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bs.register_tenant(text, text), bs.unregister_tenant(text) TO bs_operator;
-- PostgreSQL 16+: the ADMIN option on bs_tenant, as 0006 gives it on bs_agent (INHERIT FALSE, SET
-- FALSE: it may only hand the membership out). Nothing to do on 15.
DO $$
DECLARE
    v_statement constant text := 'GRANT bs_tenant TO bs_host_admin WITH ADMIN OPTION, INHERIT FALSE, SET FALSE';
BEGIN
    IF pg_catalog.current_setting('server_version_num')::int < 160000 THEN
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
               WHERE m.roleid = 'bs_tenant'::regrole AND m.member = 'bs_host_admin'::regrole AND m.admin_option) THEN
        RETURN;
    END IF;
    BEGIN
        EXECUTE v_statement;
    EXCEPTION WHEN insufficient_privilege OR invalid_grant_operation THEN
        RAISE WARNING 'cannot %: %. Until a superuser runs it, Register-BlockStoreTenant fails on PostgreSQL 16+.', v_statement, SQLERRM;
    END;
END $$;

-- ---------------------------------------------------------------------------------------------
-- Privileges: what the module's request paths need, columns listed where a tenant writes.
-- ---------------------------------------------------------------------------------------------
GRANT SELECT ON bs.settings, bs.services, bs.volume_types, bs.projects, bs.quotas, bs.quota_usage, bs.tenant_roles TO bs_tenant;
GRANT SELECT ON bs.capacity_ledger TO bs_tenant;
GRANT UPDATE (updated_at) ON bs.capacity_ledger TO bs_tenant;       -- to lock a host's row (extend, clone), changing nothing
GRANT SELECT, UPDATE (status, status_reason, updated_at, deleted_at, size_gib) ON bs.volumes TO bs_tenant;
GRANT INSERT (id, name, description, size_gib, status, host, zone, multiattach, project, volume_type, source_snapshot_id, source_volume_id)
    ON bs.volumes TO bs_tenant;
GRANT SELECT, UPDATE (stage, error, finished_at, updated_at) ON bs.operations TO bs_tenant;
GRANT INSERT (volume_id, kind, stage, host, source_snapshot_id, source_volume_id, snapshot_id, attachment_id, from_size_gib)
    ON bs.operations TO bs_tenant;
GRANT SELECT, INSERT (volume_id, host, service, kind, message) ON bs.events TO bs_tenant;
GRANT SELECT, UPDATE (status, status_reason, updated_at, deleted_at) ON bs.snapshots TO bs_tenant;
GRANT INSERT (id, volume_id, name, description, size_gib, status, host, backend_type) ON bs.snapshots TO bs_tenant;
GRANT SELECT, UPDATE (status, status_reason, updated_at, detached_at) ON bs.attachments TO bs_tenant;
GRANT INSERT (id, volume_id, host, initiator_iqn, status, auth_username) ON bs.attachments TO bs_tenant;
GRANT SELECT, INSERT ON bs.attachment_secrets TO bs_tenant;
GRANT USAGE ON SEQUENCE bs.operations_id_seq, bs.events_id_seq TO bs_tenant;

-- ---------------------------------------------------------------------------------------------
-- Row-level security. (SELECT bs.current_project()) runs once per query. A row of another project
-- is invisible (reads return nothing, updates change nothing); a row written into another project
-- is refused (WITH CHECK: PermissionDenied).
-- ---------------------------------------------------------------------------------------------
ALTER TABLE bs.projects     ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE bs.quotas       ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE bs.tenant_roles ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY migration ON bs.projects     TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY migration ON bs.quotas       TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY migration ON bs.tenant_roles TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY operator ON bs.projects TO bs_operator USING (true) WITH CHECK (true);
CREATE POLICY operator ON bs.quotas   TO bs_operator USING (true) WITH CHECK (true);
CREATE POLICY operator ON bs.tenant_roles FOR SELECT TO bs_operator USING (true);
CREATE POLICY reader ON bs.projects     FOR SELECT TO bs_reader USING (true);
CREATE POLICY reader ON bs.quotas       FOR SELECT TO bs_reader USING (true);
CREATE POLICY reader ON bs.tenant_roles FOR SELECT TO bs_reader USING (true);
CREATE POLICY host_admin ON bs.projects FOR SELECT TO bs_host_admin USING (true);
CREATE POLICY host_admin ON bs.tenant_roles TO bs_host_admin USING (true) WITH CHECK (true);
GRANT SELECT ON bs.tenant_roles TO bs_operator, bs_reader;

CREATE POLICY tenant_own ON bs.projects FOR SELECT TO bs_tenant USING (name = (SELECT bs.current_project()));
-- Its own limits and the defaults (which apply to it while it has none of its own).
CREATE POLICY tenant_own ON bs.quotas FOR SELECT TO bs_tenant USING (project IS NULL OR project = (SELECT bs.current_project()));
CREATE POLICY tenant_self ON bs.tenant_roles FOR SELECT TO bs_tenant USING (role = current_user);
CREATE POLICY tenant_read ON bs.services FOR SELECT TO bs_tenant USING (true);
CREATE POLICY tenant_read ON bs.capacity_ledger FOR SELECT TO bs_tenant USING (true);
CREATE POLICY tenant_lock ON bs.capacity_ledger FOR UPDATE TO bs_tenant USING (true) WITH CHECK (false);

CREATE POLICY tenant_own ON bs.volumes TO bs_tenant
    USING (project = (SELECT bs.current_project())) WITH CHECK (project = (SELECT bs.current_project()));

-- Everything that hangs off a volume follows the volume's project (the volumes policy above
-- applies inside these subqueries too).
CREATE POLICY tenant_own ON bs.operations TO bs_tenant
    USING (EXISTS (SELECT 1 FROM bs.volumes v WHERE v.id = volume_id))
    WITH CHECK (EXISTS (SELECT 1 FROM bs.volumes v WHERE v.id = volume_id));
CREATE POLICY tenant_read ON bs.events FOR SELECT TO bs_tenant
    USING (volume_id IS NOT NULL AND EXISTS (SELECT 1 FROM bs.volumes v WHERE v.id = volume_id));
CREATE POLICY tenant_insert ON bs.events FOR INSERT TO bs_tenant
    WITH CHECK (actor = current_user AND volume_id IS NOT NULL AND EXISTS (SELECT 1 FROM bs.volumes v WHERE v.id = volume_id));
CREATE POLICY tenant_own ON bs.snapshots TO bs_tenant
    USING (EXISTS (SELECT 1 FROM bs.volumes v WHERE v.id = volume_id))
    WITH CHECK (EXISTS (SELECT 1 FROM bs.volumes v WHERE v.id = volume_id));
CREATE POLICY tenant_own ON bs.attachments TO bs_tenant
    USING (EXISTS (SELECT 1 FROM bs.volumes v WHERE v.id = volume_id))
    WITH CHECK (EXISTS (SELECT 1 FROM bs.volumes v WHERE v.id = volume_id));
CREATE POLICY tenant_own ON bs.attachment_secrets TO bs_tenant
    USING (EXISTS (SELECT 1 FROM bs.attachments a WHERE a.id = attachment_id))
    WITH CHECK (EXISTS (SELECT 1 FROM bs.attachments a WHERE a.id = attachment_id));

-- ---------------------------------------------------------------------------------------------
-- What a tenant may not do even to its own rows: release quota without releasing space. Quota
-- usage counts volumes and snapshots that are not deleted, at their size; only an agent (which
-- removes the LV) makes a placed volume or a snapshot deleted, and only an agent gives a failed
-- extend its old size back. The module's tenant paths never do either: a volume a tenant deletes
-- at once is one that never reached a host.
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION bs.tenant_guard() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF TG_TABLE_NAME = 'volumes' THEN
        IF NEW.size_gib < OLD.size_gib THEN
            RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
                MESSAGE = format('volume %s: a tenant cannot shrink a volume (%s GiB to %s GiB)', OLD.id, OLD.size_gib, NEW.size_gib);
        END IF;
        IF NEW.status = 'deleted' AND OLD.status <> 'deleted' AND OLD.host IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
                MESSAGE = format('volume %s is on host %s: only its agent marks it deleted, after removing it', OLD.id, OLD.host);
        END IF;
    ELSIF NEW.status = 'deleted' AND OLD.status <> 'deleted' THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = format('snapshot %s: only its agent marks it deleted, after removing it', OLD.id);
    END IF;
    RETURN NEW;
END $$;

-- Whether the session is a tenant's login: SECURITY DEFINER (agents and the scheduler, whose
-- updates fire the triggers too, may not read bs.tenant_roles), so it asks about session_user, the
-- login role (tenants log in as themselves; current_user would be this function's owner).
CREATE FUNCTION bs.session_is_tenant() RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT EXISTS (SELECT 1 FROM bs.tenant_roles t WHERE t.role = session_user) $$;

CREATE TRIGGER tenant_guard BEFORE UPDATE OF status, size_gib ON bs.volumes
    FOR EACH ROW WHEN (bs.session_is_tenant()) EXECUTE FUNCTION bs.tenant_guard();
CREATE TRIGGER tenant_guard BEFORE UPDATE OF status ON bs.snapshots
    FOR EACH ROW WHEN (bs.session_is_tenant()) EXECUTE FUNCTION bs.tenant_guard();

-- Volume names are unique within a project (they were unique across all volumes): a tenant must not
-- learn from a refused name that another project uses it. Operators who name a volume that several
-- projects have act on each of them (as with a wildcard), and Get-BlockVolume -Project narrows.
DROP INDEX bs.volumes_live_name;
-- Name first: lookups by name (Get-BlockVolume -Name, over every project for operators) use it too.
CREATE UNIQUE INDEX volumes_live_name ON bs.volumes (name, project) WHERE status <> 'deleted';
