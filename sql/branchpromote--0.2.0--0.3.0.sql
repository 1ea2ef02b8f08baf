-- branchpromote 0.3.0: the scale-to-zero proxy (branchpromote.proxy_port).
-- A fresh CREATE EXTENSION runs 0.1.0, 0.1.0--0.2.0 and then this script.
\echo Use "ALTER EXTENSION branchpromote UPDATE" to load this file. \quit

-- The proxy's counters per environment, from shared memory (reset when the
-- control server restarts).  project and env are NULL for connections that
-- were never routed (bad packets, unknown names, cancels of unknown keys).
CREATE FUNCTION branchpromote._proxy_stats(
    OUT project text, OUT env text,
    OUT connections_open bigint, OUT connections_total bigint,
    OUT bytes_in bigint, OUT bytes_out bigint,
    OUT wakes bigint, OUT wake_ms_avg double precision, OUT wake_ms_max double precision,
    OUT errors bigint, OUT last_active timestamptz)
    RETURNS SETOF record
    LANGUAGE C VOLATILE
    AS 'MODULE_PATHNAME', 'branchpromote_proxy_stats';
REVOKE ALL ON FUNCTION branchpromote._proxy_stats() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION branchpromote._proxy_stats()
  TO branchpromote_viewer, branchpromote_deployer;

-- Each role sees its own projects' rows; the unrouted row and rows of
-- dropped projects only admins and viewers see.
CREATE VIEW branchpromote.proxy_stats WITH (security_barrier) AS
SELECT s.project, s.env, s.connections_open, s.connections_total,
       s.bytes_in, s.bytes_out, s.wakes, s.wake_ms_avg, s.wake_ms_max,
       s.errors, s.last_active
  FROM branchpromote._proxy_stats() s
  LEFT JOIN branchpromote.project p ON p.name = s.project
 WHERE branchpromote._can_see(p.owner);
GRANT SELECT ON branchpromote.proxy_stats TO branchpromote_viewer, branchpromote_deployer;

-- The reconciler's own state, from shared memory: whether it runs, its
-- passes since the server started and how long the last ones took (a full
-- pass also scans the disk for orphans and maintains history).
CREATE FUNCTION branchpromote._reconciler_stats(
    OUT running boolean, OUT passes bigint, OUT full_passes bigint,
    OUT last_pass_at timestamptz, OUT last_pass_ms double precision,
    OUT last_full_pass_ms double precision, OUT requests_in_flight integer)
    RETURNS record
    LANGUAGE C VOLATILE
    AS 'MODULE_PATHNAME', 'branchpromote_reconciler_stats';
REVOKE ALL ON FUNCTION branchpromote._reconciler_stats() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION branchpromote._reconciler_stats()
  TO branchpromote_viewer, branchpromote_deployer;

CREATE VIEW branchpromote.reconciler AS
SELECT running, passes, full_passes, last_pass_at, last_pass_ms, last_full_pass_ms,
       requests_in_flight
  FROM branchpromote._reconciler_stats();
GRANT SELECT ON branchpromote.reconciler TO branchpromote_viewer, branchpromote_deployer;

-- The operation journal (src/journal.c): calls that did not commit are
-- recorded as failed with the steps they reached and why; calls still
-- running show from their journal files.
ALTER TABLE branchpromote.operation ADD COLUMN error text;

CREATE FUNCTION branchpromote._operations_running(OUT header jsonb, OUT steps jsonb)
    RETURNS SETOF record
    LANGUAGE C VOLATILE
    AS 'MODULE_PATHNAME', 'branchpromote_operations_running';
REVOKE ALL ON FUNCTION branchpromote._operations_running() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION branchpromote._operations_running()
  TO branchpromote_viewer, branchpromote_deployer;

CREATE OR REPLACE VIEW branchpromote.operations WITH (security_barrier) AS
SELECT o.id AS operation, o.project, o.kind, o.status, o.steps, o.actor,
       o.started_at, o.finished_at, o.error
  FROM branchpromote.operation o
 WHERE o.actor = current_user
    OR branchpromote._can_see(COALESCE(
           (SELECT p.owner FROM branchpromote.project p WHERE p.name = o.project), 0))
UNION ALL
SELECT NULL::bigint, r.header->>'project', r.header->>'kind', 'running', r.steps,
       (r.header->>'actor')::name, (r.header->>'started_at')::timestamptz, NULL, NULL
  FROM branchpromote._operations_running() r
 WHERE r.header->>'actor' = current_user
    OR branchpromote._can_see(COALESCE(
           (SELECT p.owner FROM branchpromote.project p WHERE p.name = r.header->>'project'), 0));

-- When the reconciler or an API call last copied a timeline's ledger into
-- ledger_mirror (NULL: never): plan_promotion plans from the mirrors then.
ALTER TABLE branchpromote.timeline ADD COLUMN ledger_mirrored_at timestamptz;

-- Which timelines have a compute: asked by the reconciler for every timeline
-- in storage, and by every timeline delete (the foreign key).
CREATE INDEX ON branchpromote.compute (timeline_id);

-- What a compute's stored manifest was rendered from (a digest of the
-- template, its row's inputs and the renderer): the reconciler renders it
-- again only when that changes, also across its own restarts.
ALTER TABLE branchpromote.compute ADD COLUMN manifest_key text;
