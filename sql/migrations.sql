-- apply_migrations and re-deploys: the ledger lives in each timeline.
SELECT (branchpromote.create_project('mig'))->>'project' AS created;

-- malformed input is refused before anything runs
SELECT bp_try($$SELECT branchpromote.apply_migrations('mig', 'dev', NULL)$$);
SELECT bp_try($$SELECT branchpromote.apply_migrations('mig', 'dev', '{}')$$);
SELECT bp_try($$SELECT branchpromote.apply_migrations('mig', 'dev', '[1]')$$);
SELECT bp_try($$SELECT branchpromote.apply_migrations('mig', 'dev', '[{"version": "0001"}]')$$);
SELECT bp_try($$SELECT branchpromote.apply_migrations('mig', 'dev', '[{"version": "", "sql": "select 1"}]')$$);
SELECT bp_try($$SELECT branchpromote.apply_migrations('mig', 'dev', '[{"version": 1, "sql": "select 1"}]')$$);
SELECT bp_try($$SELECT branchpromote.apply_migrations('mig', 'dev', '[{"version": "0001", "sq1": "select 1", "sql": "select 1"}]')$$);
SELECT bp_try($$SELECT branchpromote.apply_migrations('mig', 'dev', '[{"version": "0002", "sql": "select 1"}, {"version": "0001", "sql": "select 1"}]')$$);
SELECT bp_try($$SELECT branchpromote.apply_migrations('mig', 'staging', '[]')$$);
SELECT bp_try($$SELECT branchpromote.apply_migrations('nope', 'dev', '[]')$$);
SELECT count(*) AS ledger_rows FROM branchpromote.ledger WHERE project = 'mig';

-- apply, then apply again: only what the ledger lacks runs
SELECT r->'applied' @> '[{"version": "0001"}]' AS applied_0001, r->'skipped' AS skipped
  FROM branchpromote.apply_migrations('mig', 'dev', $$[
    {"version": "0001", "name": "customers", "sql": "CREATE TABLE customers (id int PRIMARY KEY, name text); INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 100) g"}
  ]$$) r;
SELECT jsonb_array_length(r->'applied') AS applied, r->'skipped' AS skipped
  FROM branchpromote.apply_migrations('mig', 'dev', $$[
    {"version": "0001", "name": "customers", "sql": "CREATE TABLE customers (id int PRIMARY KEY, name text); INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 100) g"},
    {"version": "0002", "sql": "ALTER TABLE customers ADD COLUMN email text"}
  ]$$) r;
SELECT env, version, name, length(checksum) AS checksum_len FROM branchpromote.ledger
 WHERE project = 'mig' ORDER BY env, version;

-- forward-only: an edited migration, one that sorts before the newest, a failing one
SELECT bp_try($$SELECT branchpromote.apply_migrations('mig', 'dev', '[{"version": "0002", "sql": "ALTER TABLE customers ADD COLUMN phone text"}]')$$);
SELECT bp_try($$SELECT branchpromote.apply_migrations('mig', 'dev', '[{"version": "0001a", "sql": "SELECT 1"}]')$$);
DO $$
BEGIN
    PERFORM branchpromote.apply_migrations('mig', 'dev',
        '[{"version": "0003", "sql": "CREATE TABLE t3 (x int); SELECT 1/0"}]');
EXCEPTION WHEN division_by_zero THEN
    DECLARE ctx text;
    BEGIN
        GET STACKED DIAGNOSTICS ctx = PG_EXCEPTION_CONTEXT;
        RAISE NOTICE 'refused with 22012; context names the migration: %', ctx LIKE '%migration "0003"%';
    END;
END
$$;
SELECT count(*) AS dev_ledger_rows FROM branchpromote.ledger WHERE project = 'mig' AND env = 'dev';
-- statement waits are bounded: a migration past migration_statement_timeout is cancelled
SET branchpromote.migration_statement_timeout = '200ms';
\set VERBOSITY default
SELECT branchpromote.apply_migrations('mig', 'dev', '[{"version": "0003", "sql": "SELECT pg_sleep(5)"}]');
RESET branchpromote.migration_statement_timeout;
SELECT count(*) AS dev_ledger_rows FROM branchpromote.ledger WHERE project = 'mig' AND env = 'dev';
-- rehearse must be true or false
SELECT bp_try($$SELECT branchpromote.promote_branch('mig', 'v1', NULL)$$);

-- the first deploy: prod inherits dev's ledger with the data
SELECT (branchpromote.promote_branch('mig', 'v1'))->>'action' AS action;
SELECT env, version FROM branchpromote.ledger WHERE project = 'mig' ORDER BY env, version;

-- a new migration on dev: the re-deploy applies only it, after an anchor
SELECT jsonb_array_length(r->'applied') AS applied
  FROM branchpromote.apply_migrations('mig', 'dev', '[{"version": "0003", "name": "vip", "sql": "ALTER TABLE customers ADD COLUMN vip boolean NOT NULL DEFAULT false"}]') r;
SELECT r->>'action' AS action, r->'pending' AS pending, r->'drift' AS drift
  FROM branchpromote.plan_promotion('mig', 'v2') r;
SELECT r->>'action' AS action, r->'migrations_applied' AS applied,
       (r->>'anchor_lsn')::pg_lsn > '0/0' AS anchored
  FROM branchpromote.promote_branch('mig', 'v2') r;
SELECT action, release, status, anchor_lsn IS NOT NULL AS anchored, migrations_applied
  FROM branchpromote.deploys WHERE project = 'mig' ORDER BY deploy_id;
SELECT kind, lsn = (SELECT anchor_lsn FROM branchpromote.deploys WHERE project = 'mig' AND action = 'redeploy') AS matches_deploy
  FROM branchpromote.anchors WHERE project = 'mig';
SELECT (branchpromote.plan_promotion('mig', 'v2'))->>'action' AS action;
SELECT (branchpromote.promote_branch('mig', 'v2'))->>'action' AS action;

-- drift: a migration applied to prod that dev lacks refuses the re-deploy
SELECT jsonb_array_length(r->'applied') AS applied
  FROM branchpromote.apply_migrations('mig', 'prod', '[{"version": "0004", "sql": "CREATE TABLE hotfix (x int)"}]') r;
SELECT r->>'action' AS action, r->'drift' AS drift FROM branchpromote.plan_promotion('mig', 'v3') r;
SELECT bp_try($$SELECT branchpromote.promote_branch('mig', 'v3')$$);
SELECT count(*) AS succeeded_deploys FROM branchpromote.deploys WHERE project = 'mig' AND status = 'succeeded';

SELECT (branchpromote.unprotect('mig', 'prod'))->>'changed' AS unprotected;
SELECT (branchpromote.drop_project('mig', 'mig'))->>'dropped' AS dropped;
