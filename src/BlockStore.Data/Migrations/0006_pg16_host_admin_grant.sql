-- BlockStore schema, version 6: the grant that PostgreSQL 16 and later need for host onboarding.
--
-- bs.register_host (0003) runs as bs_host_admin and creates each host's login role
-- "IN ROLE bs_agent". Up to PostgreSQL 15, CREATEROLE alone allows that. From 16 on, CREATEROLE
-- no longer implies the right to grant membership in an existing role: bs_host_admin needs the
-- ADMIN option on bs_agent, or Register-BlockVolumeHost fails with "permission denied to grant
-- role". INHERIT FALSE and SET FALSE keep bs_host_admin from using bs_agent's privileges: it
-- may only hand the membership out. (docs/security.md, "Deployment requirements".)
--
-- Guarded by server_version_num so that the same script runs on 15 (where it does nothing) and
-- on 16+. The GRANT is run with EXECUTE because "WITH ... INHERIT FALSE" is not valid syntax on 15.
-- Roles are cluster-wide: the grant is made only when missing, so migrating a second BlockStore
-- database of the same cluster changes nothing.

DO $$
DECLARE
    v_statement constant text := 'GRANT bs_agent TO bs_host_admin WITH ADMIN OPTION, INHERIT FALSE, SET FALSE';
BEGIN
    IF pg_catalog.current_setting('server_version_num')::int < 160000 THEN
        RETURN;
    END IF;

    IF EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
               WHERE m.roleid = 'bs_agent'::regrole AND m.member = 'bs_host_admin'::regrole AND m.admin_option) THEN
        RETURN;
    END IF;

    BEGIN
        EXECUTE v_statement;
    EXCEPTION WHEN insufficient_privilege OR invalid_grant_operation THEN
        -- A migration user without the ADMIN option on bs_agent (another user created the group
        -- roles) cannot make the grant. Migrating still succeeds, so the rest of the product
        -- runs; only onboarding new hosts waits for an administrator to run the statement.
        RAISE WARNING 'cannot %: %. Until a superuser runs it, Register-BlockVolumeHost fails on PostgreSQL 16+.',
            v_statement, SQLERRM;
    END;
END $$;
