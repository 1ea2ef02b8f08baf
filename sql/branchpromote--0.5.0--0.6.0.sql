-- branchpromote 0.6.0: schema truth.
-- A fresh CREATE EXTENSION runs 0.1.0 and every upgrade script up to this one.
\echo Use "ALTER EXTENSION branchpromote UPDATE" to load this file. \quit

-- A re-deploy proves its result: the schema fingerprint dev had, the one
-- prod was left with (after its migrations, in the same transaction), and
-- whether the caller accepted a difference (accept_schema => true).
ALTER TABLE branchpromote.deploy ADD COLUMN dev_schema text;
ALTER TABLE branchpromote.deploy ADD COLUMN result_schema text;
ALTER TABLE branchpromote.deploy ADD COLUMN schema_override boolean NOT NULL DEFAULT false;
CREATE OR REPLACE VIEW branchpromote.deploys WITH (security_barrier) AS
SELECT p.name AS project, d.id AS deploy_id, d.release, d.action, d.status,
       d.from_timeline, d.to_timeline, d.fork_lsn, d.clone_method,
       d.anchor_lsn, d.migrations_applied, d.rehearsal,
       d.started_at, d.finished_at, d.elapsed_ms, d.error,
       d.previous_release, d.rolled_back_by, d.attempts,
       d.dev_schema, d.result_schema, d.schema_override
  FROM branchpromote.deploy d JOIN branchpromote.project p ON p.id = d.project_id
 WHERE branchpromote._can_see(p.owner);

-- The last schema check of each timeline (fingerprint, recorded, drift),
-- so plan_promotion sees a suspended compute's schema without waking it:
-- refreshed by every live read and by the reconciler (each full pass, and
-- just before it suspends a compute).
ALTER TABLE branchpromote.timeline ADD COLUMN schema_mirror jsonb;

DROP FUNCTION branchpromote.promote_branch(text, text, boolean);
CREATE FUNCTION branchpromote.promote_branch(project text, release text DEFAULT NULL,
                                             rehearse boolean DEFAULT true,
                                             accept_schema boolean DEFAULT false)
    RETURNS jsonb
    LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'branchpromote_promote_branch';

CREATE FUNCTION branchpromote.schema_diff(project text, source text, target text,
                                          format text DEFAULT 'json')
    RETURNS jsonb
    LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'branchpromote_schema_diff';

CREATE FUNCTION branchpromote.schema_fingerprint(project text, env text DEFAULT 'dev')
    RETURNS jsonb
    LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'branchpromote_schema_fingerprint';

CREATE FUNCTION branchpromote.accept_schema(project text, env text)
    RETURNS jsonb
    LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'branchpromote_accept_schema';

REVOKE ALL ON FUNCTION branchpromote.promote_branch(text, text, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION branchpromote.schema_diff(text, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION branchpromote.schema_fingerprint(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION branchpromote.accept_schema(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    branchpromote.promote_branch(text, text, boolean, boolean),
    branchpromote.schema_diff(text, text, text, text),
    branchpromote.schema_fingerprint(text, text),
    branchpromote.accept_schema(text, text)
  TO branchpromote_deployer;

-- plan_promotion reads live schemas (and may wake a compute that has no
-- schema check mirrored yet): it has effects, so it is not STABLE.
ALTER FUNCTION branchpromote.plan_promotion(text, text) VOLATILE;
