-- Point in time: refusals (nothing changes), then the shape of each result.
-- LSNs and ids vary from run to run, and the reachable ranges depend on when
-- the reconciler took prod's first snapshot: errors show them as X/Y, N, ....
CREATE FUNCTION public.bp_try_lsn(q text) RETURNS text LANGUAGE sql
    RETURN regexp_replace(regexp_replace(regexp_replace(bp_try(q),
        'Reachable: .*$', 'Reachable: ...'), '[0-9A-F]+/[0-9A-F]+', 'X/Y', 'g'),
        'deploy [0-9]+', 'deploy N', 'g');

SELECT r->>'project' AS project FROM branchpromote.create_project('hist') r;
-- no prod yet
SELECT bp_try($$SELECT branchpromote.rollback_to_lsn('hist', '0/1')$$);
SELECT bp_try($$SELECT branchpromote.rollback_deploy('hist')$$);
SELECT bp_try($$SELECT branchpromote.reset_prod('hist', 'hist')$$);
SELECT bp_try($$SELECT branchpromote.create_anchor('hist', 'prod', 'a')$$);
-- bad arguments
SELECT bp_try($$SELECT branchpromote.rollback_to_lsn('hist', NULL)$$);
SELECT bp_try($$SELECT branchpromote.rollback_to_lsn('nope', '0/1')$$);
SELECT bp_try($$SELECT branchpromote.rollback_deploy('hist', 0)$$);
SELECT bp_try($$SELECT branchpromote.create_anchor('hist', 'dev', '')$$);
SELECT bp_try($$SELECT branchpromote.create_anchor('hist', 'dev', E'a\tb')$$);
SELECT bp_try($$SELECT branchpromote.create_anchor('hist', 'dev', repeat('a', 64))$$);
SELECT bp_try($$SELECT branchpromote.fork_branch('hist', 'dev')$$);
SELECT bp_try($$SELECT branchpromote.fork_branch('hist', 'Bad')$$);
SELECT bp_try($$SELECT branchpromote.fork_branch('hist', 'pr', 'nope')$$);
SELECT bp_try($$SELECT branchpromote.fork_branch('hist', 'pr', 'dev', NULL, '-1 hour')$$);
SELECT bp_try($$SELECT branchpromote.discard_branch('hist', 'dev')$$);
SELECT bp_try($$SELECT branchpromote.discard_branch('hist', 'nope')$$);
SELECT count(*) AS timelines FROM branchpromote.timelines WHERE project = 'hist';

SELECT r->>'action' AS action FROM branchpromote.promote_branch('hist', 'v1') r;
SELECT bp_try_lsn($$SELECT branchpromote.rollback_to_lsn('hist', 'FFFFFFFF/0')$$);
SELECT bp_try_lsn($$SELECT branchpromote.rollback_to_lsn('hist', '0/0')$$);
SELECT bp_try_lsn($$SELECT branchpromote.rollback_deploy('hist')$$);
SELECT bp_try($$SELECT branchpromote.reset_prod('hist', 'yes')$$);
SELECT bp_try($$SELECT branchpromote.fork_branch('hist', 'prod-backup-1', 'prod-backup-1')$$);
SELECT count(*) AS timelines FROM branchpromote.timelines WHERE project = 'hist';

-- an anchor on dev, a preview at its LSN, discarded
SELECT r->>'name' AS name, r->>'env' AS env, (r->>'lsn')::pg_lsn > '0/0' AS has_lsn,
       (r->>'snapshot')::bigint > 0 AS has_snapshot
  FROM branchpromote.create_anchor('hist', 'dev', 'first') r;
SELECT bp_try($$SELECT branchpromote.create_anchor('hist', 'dev', 'first')$$);
SELECT a.kind, s.reason, s.lsn = a.lsn AS snapshot_at_anchor, s.start_lsn <= s.lsn AS ordered
  FROM branchpromote.anchors a JOIN branchpromote.snapshots s ON s.timeline = a.timeline
 WHERE a.project = 'hist' AND a.name = 'first' AND s.reason = 'anchor';
SELECT r->>'branch' AS branch, r->>'from' AS from_env, r->>'expires_at' IS NOT NULL AS expires
  FROM branchpromote.fork_branch('hist', 'pr-1', 'dev',
       (SELECT lsn FROM branchpromote.anchors WHERE project = 'hist' AND name = 'first'), '1 day') r;
SELECT bp_try($$SELECT branchpromote.fork_branch('hist', 'pr-1')$$);
SELECT env, kind, expires_at > now() AS expires_later FROM branchpromote.environments
 WHERE project = 'hist' ORDER BY env;
SELECT kind, branch, durable, discarded_at IS NULL AS live, size_bytes > 0 AS has_size,
       shared_bytes >= 0 AS has_shared
  FROM branchpromote.timelines WHERE project = 'hist' ORDER BY timeline;
SELECT r->>'discarded' AS discarded, r->>'kind' AS kind FROM branchpromote.discard_branch('hist', 'pr-1') r;
SELECT bp_try($$SELECT branchpromote.discard_branch('hist', 'pr-1')$$);
SELECT branch, discarded_at IS NOT NULL AS discarded, size_bytes > 0 AS data_kept,
       kept_until > now() + interval '6 days' AS kept_for_the_window
  FROM branchpromote.timelines WHERE project = 'hist' AND kind = 'preview';
SELECT count(*) AS preview_computes FROM branchpromote.computes WHERE project = 'hist' AND env = 'pr-1';
SELECT kind FROM branchpromote.operations WHERE project = 'hist' ORDER BY operation;
-- restore it, then discard it again
SELECT branch, kind FROM branchpromote.pending_removal WHERE project = 'hist';
SELECT bp_try($$SELECT branchpromote.restore_branch('hist', 'dev')$$);
SELECT bp_try($$SELECT branchpromote.restore_branch('hist', 'nope')$$);
SELECT r->>'restored' AS restored, r->>'kind' AS kind FROM branchpromote.restore_branch('hist', 'pr-1') r;
SELECT env FROM branchpromote.environments WHERE project = 'hist' ORDER BY env;
SELECT bp_try($$SELECT branchpromote.restore_branch('hist', 'pr-1')$$);
SELECT r->>'discarded' AS discarded FROM branchpromote.discard_branch('hist', 'pr-1') r;
-- protection: prod from its first deploy; a protected branch refuses discard
SELECT bp_try($$SELECT branchpromote.reset_prod('hist', 'hist')$$);
SELECT bp_try($$SELECT branchpromote.protect('hist', 'pr-1')$$);
SELECT bp_try($$SELECT branchpromote.protect('hist', 'nope')$$);
SELECT r->>'changed' AS changed FROM branchpromote.protect('hist', 'dev') r;
SELECT r->>'changed' AS changed FROM branchpromote.protect('hist', 'dev') r;
SELECT name FROM branchpromote.protections WHERE project = 'hist' ORDER BY name;
SELECT bp_try($$SELECT branchpromote.drop_project('hist', 'hist')$$);
SELECT count(*) AS unprotected FROM branchpromote.protections p,
       LATERAL branchpromote.unprotect(p.project, p.name) WHERE p.project = 'hist';
SELECT r->>'changed' AS changed FROM branchpromote.unprotect('hist', 'prod') r;
SELECT r->>'dropped' AS dropped FROM branchpromote.drop_project('hist', 'hist') r;
-- a dropped project: hidden, its name held, brought back, dropped again
SELECT bp_try($$SELECT branchpromote.connection_uri('hist', 'dev')$$);
SELECT bp_try($$SELECT branchpromote.create_project('hist')$$);
SELECT bp_try($$SELECT branchpromote.undrop_project('nope')$$);
SELECT r->>'undropped' AS undropped FROM branchpromote.undrop_project('hist') r;
SELECT bp_try($$SELECT branchpromote.undrop_project('hist')$$);
SELECT env FROM branchpromote.environments WHERE project = 'hist' ORDER BY env;
SELECT r->>'dropped' AS dropped FROM branchpromote.drop_project('hist', 'hist') r;
SELECT bp_try($$SELECT branchpromote.purge_project('hist')$$);
DROP FUNCTION public.bp_try_lsn(text);
