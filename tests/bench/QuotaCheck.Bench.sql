-- The quota check's cost per volume insert (issue 13), server side, interleaved in one run:
--   off     the quota trigger disabled (the insert as before quotas),
--   on      the trigger, project without finite limits (the default out of the box),
--   limited the trigger, a project with a finite limit: its row locked and its usage counted.
-- Since schema 0017 (the quota ledger) each insert here also updates a ledger row this same
-- transaction already updated, which one request (its own transaction) never does: read its
-- figures as the trigger's cost in a bulk transaction, not a request's (docs/benchmarks.md, "Quotas").
-- Run against a lab as its superuser (psql on the lab's socket, see tests/bench/README or
-- docs/benchmarks.md "Quotas"); it removes its volumes at the end.
\set QUIET on
INSERT INTO bs.projects (name) VALUES ('bench-limited') ON CONFLICT DO NOTHING;
INSERT INTO bs.quotas (project, volume_type, resource, hard_limit) VALUES ('bench-limited', NULL, 'volumes', 1000000) ON CONFLICT DO NOTHING;
CREATE OR REPLACE FUNCTION pg_temp.bench(p_mode text, p_n int) RETURNS double precision LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; i int; p text := CASE WHEN p_mode = 'limited' THEN 'bench-limited' ELSE 'default' END;
BEGIN
  IF p_mode = 'off' THEN ALTER TABLE bs.volumes DISABLE TRIGGER quota_insert; END IF;
  t0 := clock_timestamp();
  FOR i IN 1..p_n LOOP
    INSERT INTO bs.volumes (id, name, size_gib, status, project, volume_type) VALUES (gen_random_uuid(), 'qb-' || p_mode || '-' || i || '-' || md5(random()::text), 1, 'creating', p, 'default');
  END LOOP;
  IF p_mode = 'off' THEN ALTER TABLE bs.volumes ENABLE TRIGGER quota_insert; END IF;
  RETURN extract(epoch FROM clock_timestamp() - t0) * 1e6 / p_n;
END $$;
SELECT r, m, round(pg_temp.bench(m, 2000)::numeric, 1) AS us_per_insert
FROM generate_series(1, 3) r, unnest(ARRAY['off', 'on', 'limited']) m ORDER BY r;
DELETE FROM bs.volumes WHERE name LIKE 'qb-%';
