-- branchpromote 0.5.0: an idle app lives at zero.
-- A fresh CREATE EXTENSION runs 0.1.0 and every upgrade script up to this one.
\echo Use "ALTER EXTENSION branchpromote UPDATE" to load this file. \quit

-- Every new timeline gets a base snapshot before the call that made it
-- returns, so its whole history is reachable from the first moment.
ALTER TABLE branchpromote.snapshot DROP CONSTRAINT snapshot_reason_check;
ALTER TABLE branchpromote.snapshot ADD CONSTRAINT snapshot_reason_check
    CHECK (reason IN ('anchor', 'periodic', 'base'));

-- A re-deploy's migration run retries lock timeouts and deadlocks; the
-- deploy lists its attempts (every batch and statement, retried or not).
ALTER TABLE branchpromote.deploy ADD COLUMN attempts jsonb;
CREATE OR REPLACE VIEW branchpromote.deploys WITH (security_barrier) AS
SELECT p.name AS project, d.id AS deploy_id, d.release, d.action, d.status,
       d.from_timeline, d.to_timeline, d.fork_lsn, d.clone_method,
       d.anchor_lsn, d.migrations_applied, d.rehearsal,
       d.started_at, d.finished_at, d.elapsed_ms, d.error,
       d.previous_release, d.rolled_back_by, d.attempts
  FROM branchpromote.deploy d JOIN branchpromote.project p ON p.id = d.project_id
 WHERE branchpromote._can_see(p.owner);

-- The catalog's incarnation.  Every timeline and snapshot directory's
-- owner file records it with the control server's WAL timeline; the
-- reconciler collects only directories of this incarnation on this WAL
-- timeline.  A re-created catalog (DROP and CREATE EXTENSION: a new row
-- here) or a restored one (a new WAL timeline after a restore or PITR)
-- leaves the others alone: they are listed in stray_timelines and purged
-- or adopted only by an admin.
CREATE TABLE branchpromote.incarnation (
    id          uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    one_row     boolean NOT NULL DEFAULT true UNIQUE CHECK (one_row)
);
INSERT INTO branchpromote.incarnation DEFAULT VALUES;
REVOKE ALL ON branchpromote.incarnation FROM PUBLIC;
-- what the catalog names before this update is its own: stamp it
CREATE FUNCTION branchpromote._stamp_named_directories() RETURNS integer
    LANGUAGE c AS 'MODULE_PATHNAME', 'branchpromote_stamp_named_directories';
REVOKE ALL ON FUNCTION branchpromote._stamp_named_directories() FROM PUBLIC;
SELECT branchpromote._stamp_named_directories();
GRANT SELECT ON branchpromote.incarnation TO branchpromote_admin;

CREATE FUNCTION branchpromote._stray_timelines(OUT timeline bigint, OUT stamp text,
                                               OUT running boolean, OUT reason text)
    RETURNS SETOF record LANGUAGE c
    AS 'MODULE_PATHNAME', 'branchpromote_stray_timelines';
CREATE VIEW branchpromote.stray_timelines AS SELECT * FROM branchpromote._stray_timelines();
CREATE FUNCTION branchpromote.purge_stray_timeline(timeline bigint) RETURNS jsonb
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'branchpromote_purge_stray_timeline';
CREATE FUNCTION branchpromote.adopt_stray_timeline(timeline bigint, project text) RETURNS jsonb
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'branchpromote_adopt_stray_timeline';
REVOKE ALL ON FUNCTION branchpromote._stray_timelines() FROM PUBLIC;
REVOKE ALL ON FUNCTION branchpromote.purge_stray_timeline(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION branchpromote.adopt_stray_timeline(bigint, text) FROM PUBLIC;
REVOKE ALL ON branchpromote.stray_timelines FROM PUBLIC;
GRANT EXECUTE ON FUNCTION branchpromote._stray_timelines() TO branchpromote_admin;
GRANT EXECUTE ON FUNCTION branchpromote.purge_stray_timeline(bigint) TO branchpromote_admin;
GRANT EXECUTE ON FUNCTION branchpromote.adopt_stray_timeline(bigint, text) TO branchpromote_admin;
GRANT SELECT ON branchpromote.stray_timelines TO branchpromote_admin;
