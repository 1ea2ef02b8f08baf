-- create_project: bad input is refused with an SQLSTATE and a hint, and
-- changes nothing; a good name gets a dev timeline and a running compute.
SELECT bp_try($$SELECT branchpromote.create_project('Bad Name')$$);
SELECT bp_try($$SELECT branchpromote.create_project('')$$);
SELECT bp_try($$SELECT branchpromote.create_project('1shop')$$);
SELECT bp_try($$SELECT branchpromote.create_project('shop;drop')$$);
SELECT bp_try($$SELECT branchpromote.create_project(repeat('a', 64))$$);
SELECT bp_try($$SELECT branchpromote.create_project(NULL)$$);
-- a project's name is also its role and database: reserved names are refused
SELECT bp_try($$SELECT branchpromote.create_project('postgres')$$);
SELECT bp_try($$SELECT branchpromote.create_project('pg_shop')$$);
SELECT bp_try($$SELECT branchpromote.create_project('template1')$$);
SELECT count(*) AS projects FROM branchpromote.projects;

SELECT r->>'project' AS project, r->>'env' AS env, r->>'compute' AS compute,
       r->>'clone_method' IN ('reflink', 'copy') AS clone_method_reported,
       (r->>'dev_timeline')::bigint > 0 AS has_timeline,
       (r->>'elapsed_ms')::float > 0 AS timed
  FROM branchpromote.create_project('shop') AS r;
SELECT bp_try($$SELECT branchpromote.create_project('shop')$$);

SELECT project, environments FROM branchpromote.projects;
SELECT project, kind, parent, fork_lsn, durable FROM branchpromote.timelines;
SELECT project, env FROM branchpromote.environments;
SELECT project, env, desired_state, actual_state, pid > 0 AS has_pid, last_error
  FROM branchpromote.computes;
SELECT kind, status, jsonb_array_length(steps) > 0 AS has_steps
  FROM branchpromote.operations WHERE project = 'shop';

-- connection_uri
SELECT branchpromote.connection_uri('shop') ~ '^postgresql://shop:[0-9a-f]{32}@127\.0\.0\.1:[0-9]+/shop$' AS uri_ok;
SELECT branchpromote.connection_uri('shop', 'dev', true) = branchpromote.connection_uri('shop') AS direct_same_without_proxy;
SELECT bp_try($$SELECT branchpromote.connection_uri('shop', 'prod')$$);
SELECT bp_try($$SELECT branchpromote.connection_uri('shop', 'staging')$$);
SELECT bp_try($$SELECT branchpromote.connection_uri('shop', 'Bad Env')$$);
SELECT bp_try($$SELECT branchpromote.connection_uri('nope')$$);
SELECT bp_try($$SELECT branchpromote.connection_uri('shop', NULL)$$);
SELECT bp_try($$SELECT branchpromote.connection_uri('shop', 'dev', NULL)$$);

-- suspend and wake go through the reconciler
SELECT r->>'state' AS state FROM branchpromote.suspend_compute('shop', 'dev') r;
SELECT env, actual_state, pid FROM branchpromote.computes WHERE project = 'shop';
SELECT r->>'state' AS state, (r->>'pid')::int > 0 AS has_pid FROM branchpromote.wake_compute('shop', 'dev') r;
SELECT env, actual_state, pid > 0 AS has_pid FROM branchpromote.computes WHERE project = 'shop';
SELECT bp_try($$SELECT branchpromote.wake_compute('shop', 'prod')$$);
SELECT bp_try($$SELECT branchpromote.suspend_compute('nope', 'dev')$$);
-- the reconciler acts on committed state: not from a transaction with changes
BEGIN;
SELECT txid_current() > 0 AS has_xid;
SELECT bp_try($$SELECT branchpromote.suspend_compute('shop', 'dev')$$);
ROLLBACK;
SELECT env, actual_state FROM branchpromote.computes WHERE project = 'shop';
