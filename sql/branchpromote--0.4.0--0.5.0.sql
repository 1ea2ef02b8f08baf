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
