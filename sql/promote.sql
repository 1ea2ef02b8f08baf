-- plan_promotion and promote_branch: the first deploy forks dev into prod.
SELECT bp_try($$SELECT branchpromote.plan_promotion('nope')$$);
SELECT bp_try($$SELECT branchpromote.plan_promotion('shop', '')$$);
SELECT bp_try($$SELECT branchpromote.plan_promotion('shop', E'v1\n')$$);
SELECT bp_try($$SELECT branchpromote.promote_branch('nope')$$);
SELECT bp_try($$SELECT branchpromote.promote_branch('Bad')$$);
SELECT bp_try($$SELECT branchpromote.promote_branch('shop', repeat('x', 201))$$);

SELECT r->>'action' AS action, r->'prod_timeline' AS prod_timeline, r->>'release' AS release
  FROM branchpromote.plan_promotion('shop', 'v1') r;
-- planning changed nothing
SELECT count(*) AS timelines FROM branchpromote.timelines WHERE project = 'shop';

SELECT r->>'action' AS action, r->>'release' AS release,
       (r->>'deploy_id')::bigint > 0 AS has_deploy,
       (r->>'prod_timeline')::bigint > (r->>'dev_timeline')::bigint AS new_timeline,
       (r->>'fork_lsn')::pg_lsn > '0/0' AS has_fork_lsn,
       r->>'clone_method' IN ('reflink', 'copy') AS clone_method_reported,
       (r->>'dev_was_running')::boolean AS dev_was_running,
       (r->>'elapsed_ms')::float > 0 AS timed
  FROM branchpromote.promote_branch('shop', 'v1') r;

SELECT t.kind, p.kind AS parent_kind, t.fork_lsn IS NOT NULL AS has_fork_lsn, t.durable
  FROM branchpromote.timelines t LEFT JOIN branchpromote.timelines p ON p.timeline = t.parent
 WHERE t.project = 'shop' ORDER BY t.timeline;
SELECT env, release FROM branchpromote.environments WHERE project = 'shop' ORDER BY env;
SELECT env, desired_state, actual_state, pid > 0 AS has_pid FROM branchpromote.computes
 WHERE project = 'shop' ORDER BY env;
SELECT release, action, status, finished_at >= started_at AS finished, error
  FROM branchpromote.deploys WHERE project = 'shop';
SELECT d.fork_lsn = t.fork_lsn AS deploy_matches_timeline
  FROM branchpromote.deploys d JOIN branchpromote.timelines t ON t.timeline = d.to_timeline;
SELECT branchpromote.connection_uri('shop', 'prod') <> branchpromote.connection_uri('shop', 'dev') AS prod_has_own_address;

-- after the first deploy
SELECT r->>'action' AS action FROM branchpromote.plan_promotion('shop', 'v1') r;
SELECT r->>'action' AS action, r->>'prod_release' AS prod_release FROM branchpromote.plan_promotion('shop', 'v2') r;
SELECT r->>'action' AS action FROM branchpromote.promote_branch('shop', 'v1') r;
-- a new release with nothing pending is a re-deploy onto the same prod
SELECT r->>'action' AS action, r->'migrations_applied' AS applied FROM branchpromote.promote_branch('shop', 'v2') r;
SELECT count(*) AS timelines, count(*) FILTER (WHERE kind = 'prod') AS prod
  FROM branchpromote.timelines WHERE project = 'shop';
SELECT count(*) AS deploys FROM branchpromote.deploys WHERE project = 'shop';

-- drop_project needs the name twice
SELECT bp_try($$SELECT branchpromote.drop_project('shop', 'shop2')$$);
SELECT bp_try($$SELECT branchpromote.drop_project('shop', NULL)$$);
SELECT bp_try($$SELECT branchpromote.drop_project('nope', 'nope')$$);
SELECT count(*) AS projects FROM branchpromote.projects;
-- prod is protected from its first deploy: drop_project refuses, the owner unprotects
SELECT bp_try($$SELECT branchpromote.drop_project('shop', 'shop')$$);
SELECT project, name FROM branchpromote.protections;
SELECT r->>'unprotected' AS unprotected, r->>'changed' AS changed FROM branchpromote.unprotect('shop', 'prod') r;
SELECT r->>'dropped' AS dropped, jsonb_array_length(r->'timelines') AS timelines,
       (r->>'kept_until')::timestamptz > now() + interval '6 days' AS kept
  FROM branchpromote.drop_project('shop', 'shop') r;
SELECT project, branch, kind FROM branchpromote.pending_removal;
SELECT count(*) AS projects FROM branchpromote.projects;
SELECT count(*) AS timelines FROM branchpromote.timelines;
SELECT kind, status FROM branchpromote.operations WHERE project = 'shop' ORDER BY operation;
